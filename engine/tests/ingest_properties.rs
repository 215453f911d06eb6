//! Seeded property tests of ingestion: random inputs, invariants that must always hold.
//! (A small xorshift generator keeps them dependency-free and reproducible: a failure prints
//! its seed.)

use fdc_engine::change::{Message, MessageOutcome, Op, Version};
use fdc_engine::decode::json::parse_slice;
use fdc_engine::functions::call;
use fdc_engine::ingest::Router;
use fdc_engine::value::Value;
use fdc_plan::Plan;
use serde_json::json;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const CHARS: &[char] = &[
            'a', 'Z', '0', ' ', '"', '\\', 'é', '\n', '💡', '\u{7f}', '-', '.',
        ];
        (0..self.below(8))
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }
    fn json(&mut self, depth: u32) -> serde_json::Value {
        let kinds = if depth == 0 { 5 } else { 7 };
        match self.below(kinds) {
            0 => serde_json::Value::Null,
            1 => json!(self.below(2) == 1),
            2 => json!(self.next() as i64),
            3 => match self.below(3) {
                0 => json!(self.next()),
                1 => json!((self.next() as i64) as f64 / 1000.0),
                _ => json!(f64::from_bits(self.next() >> 2)),
            },
            4 => json!(self.string()),
            5 => {
                serde_json::Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect())
            }
            _ => serde_json::Value::Object(
                (0..self.below(5))
                    .map(|_| (self.string(), self.json(depth - 1)))
                    .collect(),
            ),
        }
    }
}

#[test]
fn direct_json_parse_agrees_with_serde_json_on_random_documents() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed);
        let doc = rng.json(4);
        let text = serde_json::to_vec(&doc).expect("serializes");
        let direct = parse_slice(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(direct, Value::from_json(&doc), "seed {seed}");
    }
}

#[test]
fn conversions_round_trip() {
    let mut rng = Rng(42);
    for _ in 0..5000 {
        let i = rng.next() as i64;
        let s = call("to_string", &[Value::Int(i)]).expect("to_string");
        assert_eq!(call("to_int", std::slice::from_ref(&s)), Ok(Value::Int(i)));
        assert_eq!(call("to_decimal", &[s]), Ok(Value::Decimal(i.into())));

        let f = f64::from_bits(rng.next());
        if f.is_finite() {
            let s = call("to_string", &[Value::Float(f)]).expect("to_string");
            assert_eq!(call("to_float", &[s]), Ok(Value::Float(f)), "{f:e}");
        }

        let scale = rng.below(10) as u32;
        let d = rust_decimal::Decimal::new((rng.next() >> 16) as i64, scale);
        let s = call("to_string", &[Value::Decimal(d)]).expect("to_string");
        let back = call("to_decimal", std::slice::from_ref(&s)).expect("to_decimal");
        assert_eq!(back, Value::Decimal(d));
        assert_eq!(call("to_string", &[back]), Ok(s), "scale kept");

        let ms = (rng.next() % 253_402_300_799_999) as i64;
        let t = call("from_unix_millis", &[Value::Int(ms)]).expect("datetime");
        let text = call("to_string", std::slice::from_ref(&t)).expect("to_string");
        assert_eq!(call("parse_datetime", &[text]), Ok(t.clone()));
        assert_eq!(call("to_unix_millis", &[t]), Ok(Value::Int(ms)));
    }
}

fn plan() -> Plan {
    let projection = |name: &str, format: serde_json::Value, key: &[&str]| {
        json!({"name": name, "system": "s", "topic": "t", "format": format, "key": key,
               "fields": [
                   {"name": "id", "ty": {"kind": "int"}, "nullable": false, "source": ["id"], "casts": [], "default": null},
                   {"name": "k2", "ty": {"kind": "string"}, "nullable": false, "source": ["k2"],
                    "casts": [{"function": "to_string", "args": []}], "default": null},
                   {"name": "v", "ty": {"kind": "decimal"}, "nullable": true, "source": ["v"], "casts": [], "default": null}],
               "indexes": [], "delete": "soft", "events": null})
    };
    serde_json::from_value(json!({"version": 1, "single_views": [], "projections": [
        projection("b", json!({"kind": "basic"}), &["id", "k2"]),
        projection("d", json!({"kind": "debezium"}), &["id", "k2"]),
        projection("g", json!({"kind": "golden_gate"}), &["id", "k2"]),
    ]}))
    .expect("plan")
}

fn message(key: Option<Vec<u8>>, value: Option<Vec<u8>>) -> Message {
    Message {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        key,
        value,
        headers: vec![],
        timestamp: Some(9),
    }
}

#[test]
fn routing_random_and_mutated_messages_never_panics_and_answers_every_projection() {
    let router = Router::new(&plan()).expect("router");
    let valid = [
        br#"{"op": "u", "before": {"id": 1, "k2": "a", "v": "1.5"}, "after": {"id": 1, "k2": "b", "v": 2}, "ts_ms": 5}"#.to_vec(),
        br#"{"op_type": "U", "pos": "0001", "before": {"id": 1, "k2": 3}, "after": {"id": 2, "k2": 3, "v": null}}"#.to_vec(),
        br#"{"id": 1, "k2": "x", "v": "12.50"}"#.to_vec(),
    ];
    let mut rng = Rng(7);
    for round in 0..20_000 {
        let mut value = valid[round % valid.len()].clone();
        for _ in 0..rng.below(4) {
            if value.is_empty() {
                break;
            }
            let at = rng.below(value.len() as u64) as usize;
            match rng.below(3) {
                0 => value[at] = rng.next() as u8,
                1 => {
                    value.remove(at);
                }
                _ => value.insert(at, b"{}[]\",:0n"[rng.below(9) as usize]),
            }
        }
        let key = match rng.below(3) {
            0 => None,
            1 => Some(br#"{"id": 1, "k2": "a"}"#.to_vec()),
            _ => Some(serde_json::to_vec(&rng.json(2)).expect("json")),
        };
        let value = if rng.below(10) == 0 {
            None
        } else {
            Some(value)
        };
        let out = router.route(&message(key, value));
        assert_eq!(out.len(), 3, "round {round}");
        for o in &out {
            if let MessageOutcome::Changes(changes) = o {
                assert!(!changes.is_empty() && changes.len() <= 2, "round {round}");
                for c in changes {
                    assert_eq!(c.key.len(), 2, "round {round}");
                    assert!(c.key.iter().all(|k| !k.is_null()), "round {round}");
                    assert_eq!(c.after.is_some(), c.op == Op::Upsert, "round {round}");
                }
            }
        }
    }
}

#[test]
fn key_changes_split_exactly_when_the_keys_differ() {
    let router = Router::new(&plan()).expect("router");
    let mut rng = Rng(99);
    for _ in 0..2000 {
        let (a, b) = (rng.below(3) as i64, rng.below(3) as i64);
        let (x, y) = (rng.below(2), rng.below(2));
        let value = json!({"op": "u", "ts_ms": 1,
            "before": {"id": a, "k2": x}, "after": {"id": b, "k2": y, "v": "1.0"}});
        let out = router.route(&message(
            None,
            Some(serde_json::to_vec(&value).expect("json")),
        ));
        let MessageOutcome::Changes(changes) = &out[1] else {
            panic!("changes expected: {out:?}")
        };
        if (a, x) == (b, y) {
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].op, Op::Upsert);
        } else {
            assert_eq!(
                changes.iter().map(|c| c.op).collect::<Vec<_>>(),
                [Op::Delete, Op::Upsert]
            );
            assert_eq!(
                changes[0].key,
                vec![Value::Int(a), Value::String(x.to_string())]
            );
            assert_eq!(
                changes[1].key,
                vec![Value::Int(b), Value::String(y.to_string())]
            );
        }
    }
}

#[test]
fn golden_gate_positions_order_like_the_numbers_they_spell() {
    let router = Router::new(&plan()).expect("router");
    let mut rng = Rng(5);
    let version = |pos: String| -> Version {
        let value = json!({"op_type": "I", "pos": pos, "after": {"id": 1, "k2": "a"}});
        let out = router.route(&message(
            None,
            Some(serde_json::to_vec(&value).expect("json")),
        ));
        match &out[2] {
            MessageOutcome::Changes(c) => c[0].version,
            other => panic!("changes expected: {other:?}"),
        }
    };
    for _ in 0..2000 {
        let (a, b) = (rng.next() >> rng.below(64), rng.next() >> rng.below(64));
        let pa = format!("{:0width$}", a, width = rng.below(25) as usize);
        let pb = format!("{:0width$}", b, width = rng.below(25) as usize);
        assert_eq!(version(pa).cmp(&version(pb)), a.cmp(&b));
    }
}
