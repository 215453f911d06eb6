//! Client settings shared by the Kafka source and sinks, and the redaction of secrets.
//!
//! In: brokers, client id, SASL and TLS settings, free-form librdkafka properties, topic
//! renames. Out: an `rdkafka::ClientConfig` ([`KafkaClientConfig::client_config`]).
//!
//! Guarantees: a password (SASL, TLS key) is held in a [`Secret`], whose `Debug` and
//! `Display` print `***`; free-form properties whose name looks secret (`password`, `secret`,
//! `token`, `jaas`) are redacted the same way; error messages of librdkafka never show a
//! configured value ([`KafkaClientConfig::describe`]): a configuration error is rebuilt from
//! the property's name and what is wrong (librdkafka's text repeats the value, so a secret
//! under a misspelled name would be printed), and any other message is scrubbed of every
//! password and every property value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

pub use fdc_core::secret::Secret;

/// SASL authentication (`sasl.mechanism`, `sasl.username`, `sasl.password`).
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSaslConfig {
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`, `GSSAPI`.
    pub mechanism: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// TLS (`ssl.*` properties): paths to PEM files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaTlsConfig {
    /// Certificate authorities to trust (`ssl.ca.location`).
    pub ca_location: Option<PathBuf>,
    /// Client certificate (`ssl.certificate.location`).
    pub certificate_location: Option<PathBuf>,
    /// Client private key (`ssl.key.location`).
    pub key_location: Option<PathBuf>,
    /// Password of the private key (`ssl.key.password`).
    pub key_password: Option<Secret>,
}

/// Connection settings common to consumers and producers.
#[derive(Clone, PartialEq, Default)]
pub struct KafkaClientConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// `client.id` (shown in broker logs and quotas).
    pub client_id: Option<String>,
    /// `security.protocol`; when absent it is inferred: `sasl_ssl` with SASL and TLS,
    /// `sasl_plaintext` with SASL only, `ssl` with TLS only, else librdkafka's default.
    pub security_protocol: Option<String>,
    pub sasl: Option<KafkaSaslConfig>,
    pub tls: Option<KafkaTlsConfig>,
    /// Any other librdkafka property, applied after the settings above. The properties the
    /// delivery guarantee rests on are applied after these and cannot be overridden.
    pub properties: BTreeMap<String, String>,
}

/// Whether a free-form property name holds a credential.
fn is_secret_property(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token", "jaas"]
        .iter()
        .any(|s| n.contains(s))
}

impl fmt::Debug for KafkaClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_property(k) { "***" } else { v };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaClientConfig")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("security_protocol", &self.security_protocol)
            .field("sasl", &self.sasl)
            .field("tls", &self.tls)
            .field("properties", &properties)
            .finish()
    }
}

impl KafkaClientConfig {
    /// Plain-text settings for `brokers`.
    pub fn new(brokers: impl Into<String>) -> KafkaClientConfig {
        KafkaClientConfig {
            brokers: brokers.into(),
            ..KafkaClientConfig::default()
        }
    }

    /// The librdkafka configuration (without the adapter-specific properties).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        if let Some(id) = &self.client_id {
            c.set("client.id", id);
        }
        let protocol = match (&self.security_protocol, &self.sasl, &self.tls) {
            (Some(p), _, _) => Some(p.as_str()),
            (None, Some(_), Some(_)) => Some("sasl_ssl"),
            (None, Some(_), None) => Some("sasl_plaintext"),
            (None, None, Some(_)) => Some("ssl"),
            (None, None, None) => None,
        };
        if let Some(p) = protocol {
            c.set("security.protocol", p);
        }
        if let Some(s) = &self.sasl {
            c.set("sasl.mechanism", &s.mechanism);
            if let Some(u) = &s.username {
                c.set("sasl.username", u);
            }
            if let Some(p) = &s.password {
                c.set("sasl.password", p.expose());
            }
        }
        if let Some(t) = &self.tls {
            let paths = [
                ("ssl.ca.location", &t.ca_location),
                ("ssl.certificate.location", &t.certificate_location),
                ("ssl.key.location", &t.key_location),
            ];
            for (name, path) in paths {
                if let Some(p) = path {
                    c.set(name, p.to_string_lossy());
                }
            }
            if let Some(p) = &t.key_password {
                c.set("ssl.key.password", p.expose());
            }
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// A librdkafka error as a message that shows no configured value.
    pub fn describe(&self, e: &KafkaError) -> String {
        match e {
            // librdkafka's description repeats the value: say only which property and why.
            KafkaError::ClientConfig(result, _, name, _) => {
                let why = match result {
                    RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN => "no such property (misspelled?)",
                    RDKafkaConfRes::RD_KAFKA_CONF_INVALID => "invalid value (not shown)",
                    _ => "rejected (value not shown)",
                };
                format!("Kafka client configuration error: property `{name}`: {why}")
            }
            other => self.scrub(&other.to_string()),
        }
    }

    /// `message` with every password and every free-form property value of this configuration
    /// replaced by `***` (whatever the property's name: a secret may be under a misspelled
    /// one). Values that cannot be secrets and would garble any message (`true`, `false`,
    /// fewer than 3 characters) are left.
    pub fn scrub(&self, message: &str) -> String {
        let mut secrets: Vec<&str> = Vec::new();
        if let Some(p) = self.sasl.as_ref().and_then(|s| s.password.as_ref()) {
            secrets.push(p.expose());
        }
        if let Some(p) = self.tls.as_ref().and_then(|t| t.key_password.as_ref()) {
            secrets.push(p.expose());
        }
        for (k, v) in &self.properties {
            let trivial = v.chars().count() < 3 || v == "true" || v == "false";
            if is_secret_property(k) || !trivial {
                secrets.push(v);
            }
        }
        // Longest first, so that a value holding another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = message.to_string();
        for s in secrets.into_iter().filter(|s| !s.is_empty()) {
            out = out.replace(s, "***");
        }
        out
    }
}

/// Renames between the topics a plan names and the topics on the broker (for example an
/// environment prefix). Topics not listed keep their name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicMap {
    /// Plan topic -> broker topic.
    pub renames: BTreeMap<String, String>,
}

impl TopicMap {
    /// The broker topic of a plan topic.
    pub fn to_broker<'a>(&'a self, plan_topic: &'a str) -> &'a str {
        self.renames
            .get(plan_topic)
            .map(String::as_str)
            .unwrap_or(plan_topic)
    }

    /// The plan topic of a broker topic.
    pub fn to_plan<'a>(&'a self, broker_topic: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(_, b)| b.as_str() == broker_topic)
            .map(|(p, _)| p.as_str())
            .unwrap_or(broker_topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secure() -> KafkaClientConfig {
        let mut c = KafkaClientConfig::new("b1:9093,b2:9093");
        c.client_id = Some("fdc-1".into());
        c.sasl = Some(KafkaSaslConfig {
            mechanism: "SCRAM-SHA-512".into(),
            username: Some("svc".into()),
            password: Some(Secret::new("hunter2")),
        });
        c.tls = Some(KafkaTlsConfig {
            ca_location: Some("/etc/ca.pem".into()),
            key_password: Some(Secret::new("keypass")),
            ..KafkaTlsConfig::default()
        });
        c.properties
            .insert("sasl.oauthbearer.client.secret".into(), "s3cr3t".into());
        c.properties.insert("fetch.min.bytes".into(), "1024".into());
        c
    }

    #[test]
    fn security_settings_pass_through_to_librdkafka() {
        let c = secure().client_config();
        assert_eq!(c.get("bootstrap.servers"), Some("b1:9093,b2:9093"));
        assert_eq!(c.get("client.id"), Some("fdc-1"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("sasl.username"), Some("svc"));
        assert_eq!(c.get("sasl.password"), Some("hunter2"));
        assert_eq!(c.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(c.get("ssl.key.password"), Some("keypass"));
        assert_eq!(c.get("fetch.min.bytes"), Some("1024"));
        let mut plain = KafkaClientConfig::new("b:1");
        assert_eq!(plain.client_config().get("security.protocol"), None);
        plain.tls = Some(KafkaTlsConfig::default());
        assert_eq!(plain.client_config().get("security.protocol"), Some("ssl"));
    }

    #[test]
    fn secrets_never_show_in_debug_or_scrubbed_messages() {
        let c = secure();
        let shown = format!("{c:?}");
        for secret in ["hunter2", "keypass", "s3cr3t"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("fetch.min.bytes") && shown.contains("1024"));
        assert_eq!(
            c.scrub("bad value hunter2 and keypass and s3cr3t"),
            "bad value *** and *** and ***"
        );
        assert_eq!(Secret::new("x").to_string(), "***");
    }

    #[test]
    fn a_property_value_never_shows_in_a_librdkafka_error_whatever_its_name() {
        use rdkafka::consumer::BaseConsumer;
        // A misspelled secret property: librdkafka refuses it before any connection, and its
        // own message quotes the value.
        let mut c = KafkaClientConfig::new("127.0.0.1:1");
        c.properties
            .insert("sasl.passwd".into(), "hunter2-misplaced".into());
        let Err(e) = c.client_config().create::<BaseConsumer>() else {
            panic!("librdkafka accepted the property");
        };
        assert!(
            e.to_string().contains("hunter2-misplaced"),
            "librdkafka no longer quotes the value: {e}"
        );
        let shown = c.describe(&e);
        assert_eq!(
            shown,
            "Kafka client configuration error: property `sasl.passwd`: no such property (misspelled?)"
        );
        assert!(!c.scrub(&e.to_string()).contains("hunter2-misplaced"));
        // A known property with a bad value.
        let mut c = KafkaClientConfig::new("127.0.0.1:1");
        c.properties
            .insert("fetch.min.bytes".into(), "s3cret-not-a-number".into());
        let Err(e) = c.client_config().create::<BaseConsumer>() else {
            panic!("librdkafka accepted the property");
        };
        let shown = c.describe(&e);
        assert!(shown.contains("`fetch.min.bytes`"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!c.scrub(&e.to_string()).contains("s3cret"));
    }

    #[test]
    fn topic_renames_go_both_ways() {
        let mut m = TopicMap::default();
        m.renames
            .insert("crm.orders".into(), "prod.crm.orders".into());
        assert_eq!(m.to_broker("crm.orders"), "prod.crm.orders");
        assert_eq!(m.to_plan("prod.crm.orders"), "crm.orders");
        assert_eq!(m.to_broker("other"), "other");
        assert_eq!(m.to_plan("other"), "other");
    }
}
