//! `fdc lsp` end to end: the real binary driven over stdio with Content-Length framed
//! JSON-RPC, as an editor drives it. Open, change, hover, definition, references, rename,
//! completion, formatting, document symbols and code actions on the example pipelines; broken
//! edits; every truncation of the example files (the server stays alive, answers, and never
//! panics); UTF-16 and UTF-8 positions over non-ASCII text.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "lsp_client/frame.rs"]
mod frame;
use frame::{frame, read_frame};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A client speaking to one `fdc lsp` process.
struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
    /// The latest `publishDiagnostics` per URI.
    diagnostics: HashMap<String, Value>,
    stderr: Arc<Mutex<String>>,
}

impl Client {
    /// Starts `fdc lsp` and initializes it; `utf8` offers UTF-8 positions.
    fn start(utf8: bool) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fdc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(v) = read_frame(&mut r) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            sink.lock().unwrap().push_str(&s);
        });
        let mut c = Client {
            child,
            stdin,
            messages: rx,
            next_id: 0,
            diagnostics: HashMap::new(),
            stderr,
        };
        let encodings = if utf8 {
            json!(["utf-8", "utf-16"])
        } else {
            json!(["utf-16"])
        };
        let init = c.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": { "general": { "positionEncodings": encodings } },
            }),
        );
        let expected = if utf8 { "utf-8" } else { "utf-16" };
        assert_eq!(init["capabilities"]["positionEncoding"], expected);
        c.notify("initialized", json!({}));
        c
    }

    fn send(&mut self, v: Value) {
        self.stdin.write_all(frame(&v).as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message, keeping diagnostics.
    fn next(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(v) => {
                if v["method"] == "textDocument/publishDiagnostics" {
                    let uri = v["params"]["uri"].as_str().unwrap().to_string();
                    self.diagnostics.insert(uri, v["params"].clone());
                }
                v
            }
            Err(RecvTimeoutError::Timeout) => panic!("fdc lsp did not answer in time"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("fdc lsp exited: {}", self.stderr.lock().unwrap().as_str())
            }
        }
    }

    /// The full response to a request.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self.next(deadline);
            if v["id"] == id && v.get("method").is_none() {
                return v;
            }
        }
    }

    /// The result of a request (an error response fails the test).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let v = self.call(method, params.clone());
        assert!(
            v.get("error").is_none(),
            "{method} {params} failed: {}",
            v["error"]
        );
        v["result"].clone()
    }

    /// The diagnostics of `uri` once they reflect `version` (or, for files not open, the
    /// first published after now when `version` is `None`).
    fn diagnostics_of(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        // A request is answered after every pending analysis is published.
        self.request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri } }),
        );
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(p) = self.diagnostics.get(uri) {
                if version.is_none() || p["version"].as_i64() == version {
                    return p["diagnostics"].as_array().unwrap().clone();
                }
            }
            self.next(deadline);
        }
    }

    fn open(&mut self, path: &Path, text: &str) -> String {
        let uri = uri(path);
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "fdl", "version": 1, "text": text } }),
        );
        uri
    }

    fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "text": text }],
            }),
        );
    }

    fn at(uri: &str, line: u32, character: u32) -> Value {
        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
    }

    /// Shuts the server down and checks it exits cleanly and never panicked.
    fn stop(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        // Let the stderr reader finish.
        std::thread::sleep(Duration::from_millis(50));
        let err = self.stderr.lock().unwrap().clone();
        assert!(!err.contains("panicked"), "fdc lsp panicked: {err}");
        assert!(status.success(), "fdc lsp exited with {status}: {err}");
    }
}

fn uri(path: &Path) -> String {
    let mut s = String::from("file://");
    for b in path.to_str().unwrap().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(rel)
}

/// (line, UTF-16 character) of the `nth` occurrence of `needle` in `text`, plus `shift`
/// characters.
fn pos(text: &str, needle: &str, nth: usize, shift: usize) -> (u32, u32) {
    let off = text.match_indices(needle).nth(nth).expect(needle).0;
    let before = &text[..off];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let ch = before[start..].encode_utf16().count() + shift;
    (line as u32, ch as u32)
}

fn hover_text(v: &Value) -> String {
    v["contents"]["value"].as_str().unwrap_or("").to_string()
}

/// A fresh copy of an example pipeline (edits on disk stay out of the repository).
fn copy_example(name: &str, tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lsp_{tag}_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(example(name)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn examples_answer_hover_definition_references_rename_completion_format_symbols() {
    let dir = copy_example("customer360", "features");
    let view_path = dir.join("customer_360.fdl");
    let view = std::fs::read_to_string(&view_path).unwrap();
    let mut c = Client::start(false);
    let v = c.open(&view_path, &view);
    assert_eq!(c.diagnostics_of(&v, Some(1)), Vec::<Value>::new());

    // Hover: a relation's cardinality, a single-view field's type and lineage, a function's
    // documentation, an expression's type.
    let (l, ch) = pos(&view, "customer_orders[]", 0, 3);
    let h = c.request("textDocument/hover", Client::at(&v, l, ch));
    let text = hover_text(&h);
    assert!(
        text.contains("relation `customer_orders`: one `customers` to many `orders`; no condition"),
        "{text}"
    );
    let (l, ch) = pos(&view, "total_spent", 0, 2);
    let text = hover_text(&c.request("textDocument/hover", Client::at(&v, l, ch)));
    assert!(
        text.contains("single-view field `customer_360.total_spent`: `decimal`"),
        "{text}"
    );
    assert!(
        text.contains("lineage (`fdc explain customer_360.total_spent`)"),
        "{text}"
    );
    assert!(text.contains("topic \"shop.orders\""), "{text}");
    let (l, ch) = pos(&view, "format_datetime", 0, 1);
    let text = hover_text(&c.request("textDocument/hover", Client::at(&v, l, ch)));
    assert!(text.starts_with("```fdl\nformat_datetime("), "{text}");
    let (l, ch) = pos(&view, "sum(customer_orders.total", 0, 1);
    let text = hover_text(&c.request("textDocument/hover", Client::at(&v, l, ch)));
    assert!(
        text.contains("aggregate: the sum of the numbers; 0 of the value's type on no records"),
        "{text}"
    );
    let (l, ch) = pos(&view, "customers.email", 0, 11);
    let text = hover_text(&c.request("textDocument/hover", Client::at(&v, l, ch)));
    assert!(text.starts_with("`customers.email`: `string?`\n\n```fdl\nemail string? <- EMAIL | trim | lowercase\n```"), "{text}");
    assert!(
        text.contains("field `customers.email`: `string?` (nullable), from column `EMAIL` of topic `crm.public.customers` (debezium)"),
        "{text}"
    );

    // Definition across files: the relation is declared in shop.fdl.
    let (l, ch) = pos(&view, "customer_orders[]", 0, 0);
    let d = c.request("textDocument/definition", Client::at(&v, l, ch));
    let shop = std::fs::read_to_string(dir.join("shop.fdl")).unwrap();
    let (dl, dch) = pos(&shop, "relation customer_orders", 0, 9);
    assert_eq!(d["uri"], uri(&dir.join("shop.fdl")));
    assert_eq!(d["range"]["start"], json!({ "line": dl, "character": dch }));
    assert_eq!(
        d["range"]["end"],
        json!({ "line": dl, "character": dch + "customer_orders".len() as u32 })
    );

    // References: the declaration and every use, across files.
    let r = c.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": v }, "position": { "line": l, "character": ch },
            "context": { "includeDeclaration": true },
        }),
    );
    let uses = view.matches("customer_orders").count();
    assert_eq!(r.as_array().unwrap().len(), uses + 1, "{r}");
    assert_eq!(r[0]["uri"], uri(&dir.join("shop.fdl")));

    // Rename a relation across the pipeline's files.
    let p = c.request("textDocument/prepareRename", Client::at(&v, l, ch));
    assert_eq!(p["start"], json!({ "line": l, "character": ch }));
    let e = c.request(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": v }, "position": { "line": l, "character": ch },
            "newName": "orders_of",
        }),
    );
    let changes = e["changes"].as_object().unwrap();
    assert_eq!(changes[&v].as_array().unwrap().len(), uses);
    assert_eq!(
        changes[&uri(&dir.join("shop.fdl"))]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(changes
        .values()
        .flat_map(|x| x.as_array().unwrap())
        .all(|x| x["newText"] == "orders_of"));
    let bad = c.call(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": v }, "position": { "line": l, "character": ch },
            "newName": "not a name",
        }),
    );
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not a name"),
        "{bad}"
    );

    // Completion in a broken edit: after `customer_orders.` the fields of `orders`.
    let broken = view.replace("  order_count", "  probe = customer_orders.\n  order_count");
    c.change(&v, 2, &broken);
    let (l, ch) = pos(&broken, "customer_orders.\n", 0, "customer_orders.".len());
    let items = c.request("textDocument/completion", Client::at(&v, l, ch));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"total") && labels.contains(&"order_lines"),
        "{labels:?}"
    );
    let d = c.diagnostics_of(&v, Some(2));
    assert_eq!(d[0]["code"], "fdl::parse::syntax", "{d:?}");
    // After `|` in a projection: the cast functions.
    let shop_uri = c.open(&dir.join("shop.fdl"), &shop);
    let cast = shop.replace("<- STATUS | uppercase", "<- STATUS | up");
    c.change(&shop_uri, 2, &cast);
    let (l, ch) = pos(&cast, "| up", 0, 4);
    let items = c.request("textDocument/completion", Client::at(&shop_uri, l, ch));
    let casts: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        casts.contains(&"uppercase") && casts.contains(&"to_decimal"),
        "{casts:?}"
    );
    assert!(!casts.contains(&"is_null"), "{casts:?}");
    c.change(&shop_uri, 3, &shop);
    c.change(&v, 3, &view);

    // Formatting: `fdc fmt`'s layout.
    let messy = view.replace(
        "  customer_id = customers.id\n",
        "  customer_id    =   customers.id\n",
    );
    c.change(&v, 4, &messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": v }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits[0]["newText"].as_str().unwrap(), view);
    c.change(&v, 5, &view);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": v }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));

    // Outline.
    let crm_uri = uri(&dir.join("crm.fdl"));
    let s = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": crm_uri } }),
    );
    assert_eq!(s[0]["name"], "crm");
    let names: Vec<&str> = s[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["customers", "addresses"]);
    assert_eq!(s[0]["children"][0]["children"][3]["name"], "email");
    assert_eq!(s[0]["children"][0]["children"][3]["detail"], "string?");
    assert_eq!(s[1]["name"], "customer_billing");
    c.stop();
}

#[test]
fn did_you_mean_and_missing_index_become_code_actions_and_siblings_recheck() {
    let dir = copy_example("customer360", "fixes");
    let view_path = dir.join("customer_360.fdl");
    let view = std::fs::read_to_string(&view_path).unwrap();
    let shop_path = dir.join("shop.fdl");
    let shop = std::fs::read_to_string(&shop_path).unwrap();
    let mut c = Client::start(false);
    let v = c.open(&view_path, &view);
    let s = c.open(&shop_path, &shop);
    assert!(c.diagnostics_of(&v, Some(1)).is_empty());

    // A typo: the diagnostic of `fdc check`, with its did-you-mean as a quick fix.
    let typo = view.replace("customers.first_name", "customers.frist_name");
    c.change(&v, 2, &typo);
    let d = c.diagnostics_of(&v, Some(2));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["code"], "fdl::check::unknown_field");
    assert_eq!(
        d[0]["message"],
        "projection `customers` has no field `frist_name`\nhelp: did you mean `first_name` or `last_name`?"
    );
    let (l, ch) = pos(&typo, "frist_name", 0, 0);
    assert_eq!(
        d[0]["range"]["start"],
        json!({ "line": l, "character": ch })
    );
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": v }, "range": d[0]["range"], "context": { "diagnostics": d } }),
    );
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec!["replace with `first_name`", "replace with `last_name`"]
    );
    assert_eq!(actions[0]["kind"], "quickfix");
    let edit = &actions[0]["edit"]["changes"][&v][0];
    assert_eq!(edit["newText"], "first_name");
    assert_eq!(edit["range"], d[0]["range"]);

    // An edit in one file re-checks its siblings: removing the index on orders.customer_id
    // in shop.fdl gives a missing-index warning there, fixed by the code action.
    c.change(&v, 3, &view);
    let no_index = shop.replace("    index customer_id\n", "");
    c.change(&s, 2, &no_index);
    let d = c.diagnostics_of(&s, Some(2));
    let missing: Vec<&Value> = d
        .iter()
        .filter(|x| x["code"] == "fdl::check::missing_index")
        .collect();
    assert!(!missing.is_empty(), "{d:?}");
    assert_eq!(missing[0]["severity"], 2);
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": s }, "range": missing[0]["range"], "context": { "diagnostics": [] } }),
    );
    let add: Vec<&Value> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["title"] == "add `index customer_id` to projection `orders`")
        .collect();
    assert!(!add.is_empty(), "{actions}");
    let edit = &add[0]["edit"]["changes"][&s][0];
    assert_eq!(edit["newText"], "\n    index customer_id");

    // Renaming the relation's declaration in shop.fdl breaks customer_360.fdl, which is
    // re-checked and gets its diagnostics without being edited.
    let renamed = shop.replace("relation customer_orders:", "relation orders_of:");
    c.change(&s, 3, &renamed);
    let d = c.diagnostics_of(&v, Some(3));
    assert!(
        d.iter().any(|x| x["code"] == "fdl::check::unknown_name"),
        "{d:?}"
    );
    c.change(&s, 4, &shop);
    assert!(c.diagnostics_of(&v, Some(3)).is_empty());

    // An imported file: definition opens it, references list its imports.
    let fleet_path = example("fleet/fleet.fdl");
    let fleet_text = std::fs::read_to_string(&fleet_path).unwrap();
    let (l, ch) = pos(&fleet_text, "\"formats.fdl\"", 0, 3);
    let d = c.request(
        "textDocument/definition",
        Client::at(&uri(&fleet_path), l, ch),
    );
    assert_eq!(d["uri"], uri(&example("fleet/formats.fdl")));
    assert_eq!(d["range"]["start"], json!({ "line": 0, "character": 0 }));
    let r = c.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": uri(&fleet_path) }, "position": { "line": l, "character": ch },
            "context": { "includeDeclaration": true },
        }),
    );
    assert_eq!(r.as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r[0]["uri"], uri(&fleet_path));
    assert_eq!(
        r[0]["range"]["start"],
        json!({ "line": l, "character": ch - 3 })
    );

    // A program first analysed to answer a request (its files not open) publishes too.
    let fleet = uri(&example("fleet/views.fdl"));
    assert!(c.diagnostics_of(&fleet, None).is_empty());
    assert!(c
        .diagnostics
        .contains_key(&uri(&example("fleet/formats.fdl"))));
    c.stop();
}

/// The hover and diagnostic shown in docs/editors.md (keep them in step).
#[test]
fn documented_hover_and_diagnostic() {
    let dir = copy_example("customer360", "docs");
    let view_path = dir.join("customer_360.fdl");
    let view = std::fs::read_to_string(&view_path).unwrap();
    let mut c = Client::start(false);
    let v = c.open(&view_path, &view);
    let (l, ch) = pos(&view, "total_spent", 0, 0);
    let h = c.request("textDocument/hover", Client::at(&v, l, ch));
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/editors.md"))
            .unwrap();
    let shown = serde_json::to_string_pretty(&h).unwrap();
    assert!(
        docs.contains(&shown),
        "docs/editors.md should show the hover:\n{shown}"
    );
    let typo = view.replace(
        "count(customer_orders)\n  total_spent",
        "count(customer_order)\n  total_spent",
    );
    c.change(&v, 2, &typo);
    let d = c.diagnostics_of(&v, Some(2));
    let shown = serde_json::to_string_pretty(&d).unwrap();
    assert!(
        docs.contains(&shown),
        "docs/editors.md should show the diagnostics:\n{shown}"
    );
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": v }, "range": d[0]["range"], "context": { "diagnostics": d } }),
    );
    assert_eq!(actions.as_array().unwrap().len(), 1, "{actions}");
    assert_eq!(actions[0]["title"], "replace with `customer_orders`");
    c.stop();
}

#[test]
fn positions_are_utf16_by_default_and_utf8_when_offered() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lsp_unicode");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text = "system s {\n  projection p from \"t\" as basic {\n    key id\n    id int\n    /* ünï 😀 */ label string <- NAME | trim\n  }\n}\nsingle view v {\n  root p\n  key id = p.id\n  id = p.id\n  x = \"😀\" + p.lable\n}\n";
    let path = dir.join("p.fdl");
    std::fs::write(&path, text).unwrap();
    for utf8 in [false, true] {
        let mut c = Client::start(utf8);
        let u = c.open(&path, text);
        let d = c.diagnostics_of(&u, Some(1));
        assert_eq!(d.len(), 1, "{d:?}");
        let line = text.lines().nth(11).unwrap();
        let start = line.find("lable").unwrap();
        let ch = if utf8 {
            start
        } else {
            line[..start].encode_utf16().count()
        };
        assert_eq!(
            d[0]["range"]["start"],
            json!({ "line": 11, "character": ch })
        );
        assert_eq!(
            d[0]["range"]["end"],
            json!({ "line": 11, "character": ch + 5 })
        );
        // Hover on `label` after the non-ASCII comment, and its definition from the typo fix.
        let line4 = text.lines().nth(4).unwrap();
        let at = line4.find("label").unwrap() + 1;
        let ch = if utf8 {
            at
        } else {
            line4[..at].encode_utf16().count()
        };
        let h = c.request("textDocument/hover", Client::at(&u, 4, ch as u32));
        assert!(hover_text(&h).contains("field `p.label`: `string`"), "{h}");
        let (l0, c0) = (
            h["range"]["start"]["line"].clone(),
            h["range"]["start"]["character"].clone(),
        );
        assert_eq!(l0, 4);
        let want = if utf8 {
            line4.find("label").unwrap()
        } else {
            line4[..line4.find("label").unwrap()].encode_utf16().count()
        };
        assert_eq!(c0, want);
        // An incremental change in the encoding's units: fix the typo in place.
        let ch = if utf8 {
            start
        } else {
            line[..start].encode_utf16().count()
        };
        c.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": u, "version": 2 },
                "contentChanges": [{
                    "range": { "start": { "line": 11, "character": ch }, "end": { "line": 11, "character": ch + 5 } },
                    "text": "label",
                }],
            }),
        );
        assert_eq!(c.diagnostics_of(&u, Some(2)), Vec::<Value>::new());
        c.stop();
    }
}

/// Every prefix of every file of an example, each followed by a request: the server answers
/// them all (no error response), publishes diagnostics, and never panics.
fn every_truncation_is_answered_without_panic(name: &str) {
    let methods = [
        "textDocument/hover",
        "textDocument/completion",
        "textDocument/definition",
        "textDocument/references",
        "textDocument/documentSymbol",
        "textDocument/formatting",
        "textDocument/codeAction",
        "textDocument/prepareRename",
    ];
    let dir = copy_example(name, "truncate");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fdl"))
        .collect();
    files.sort();
    let mut c = Client::start(false);
    for f in &files {
        let full = std::fs::read_to_string(f).unwrap();
        let u = c.open(f, &full);
        let mut version = 1;
        let cuts: Vec<usize> = full
            .char_indices()
            .map(|(i, _)| i)
            .chain([full.len()])
            .collect();
        for (n, &cut) in cuts.iter().enumerate() {
            let prefix = &full[..cut];
            version += 1;
            c.change(&u, version, prefix);
            let line = prefix.matches('\n').count() as u32;
            let last = prefix.rsplit('\n').next().unwrap_or("");
            let ch = last.encode_utf16().count() as u32;
            let method = methods[n % methods.len()];
            let params = match method {
                "textDocument/documentSymbol" => json!({ "textDocument": { "uri": u } }),
                "textDocument/formatting" => {
                    json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } })
                }
                "textDocument/codeAction" => json!({
                    "textDocument": { "uri": u },
                    "range": { "start": { "line": 0, "character": 0 }, "end": { "line": line, "character": ch } },
                    "context": { "diagnostics": [] },
                }),
                "textDocument/references" => json!({
                    "textDocument": { "uri": u }, "position": { "line": line, "character": ch.saturating_sub(1) },
                    "context": { "includeDeclaration": true },
                }),
                _ => Client::at(&u, line, ch.saturating_sub(1)),
            };
            c.request(method, params);
        }
        // Back to the whole file: clean again.
        version += 1;
        c.change(&u, version, &full);
        assert_eq!(
            c.diagnostics_of(&u, Some(version)),
            Vec::<Value>::new(),
            "{}",
            f.display()
        );
    }
    c.stop();
}

#[test]
fn every_truncation_of_customer360_is_answered_without_panic() {
    every_truncation_is_answered_without_panic("customer360");
}

#[test]
fn every_truncation_of_fleet_is_answered_without_panic() {
    every_truncation_is_answered_without_panic("fleet");
}
