//! Connection settings of the MongoDB store, and the redaction of secrets.
//!
//! In: a [`MongoStoreConfig`] (built by the CLI from `fdc.yaml` and the environment, which it
//! reads: the password comes in as a [`Secret`]). Out: the driver's client options.
//!
//! Guarantees: a password (in the URI, or given) never appears in
//! a `Debug` output, an error message or a log line: the URI is shown through [`redact_uri`],
//! and driver messages about the URI are scrubbed of every secret before they are shown. TLS
//! settings pass through, either in the URI (`tls=true&tlsCAFile=...`) or in
//! [`MongoTlsConfig`].

use std::path::PathBuf;
use std::time::Duration;

use mongodb::options::{ClientOptions, Credential, Tls, TlsOptions};
use serde::Deserialize;

use fdc_core::secret::Secret;
use fdc_core::store::StoreError;

/// TLS settings added to those of the URI.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MongoTlsConfig {
    /// Certificate authorities to trust (PEM).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), for X.509 authentication or mutual TLS.
    pub cert_key_file: Option<PathBuf>,
    /// Accept any server certificate (tests only).
    pub allow_invalid_certificates: bool,
}

/// Settings of a [`super::MongoStore`]. Credentials come from the URI, or from `username` plus
/// `password` (which the caller reads: the CLI from the variable or file `fdc.yaml` names).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MongoStoreConfig {
    /// Connection string (`mongodb://` or `mongodb+srv://`); may hold credentials.
    pub uri: String,
    /// Database of the projection and single-view collections.
    pub database: String,
    /// Collection of single-view failures.
    pub errors_collection: String,
    /// User name (overrides the URI's).
    pub username: Option<String>,
    /// The password (overrides the URI's). Never deserialized: the caller reads it.
    #[serde(skip)]
    pub password: Option<Secret>,
    /// Authentication database (overrides the URI's).
    pub auth_source: Option<String>,
    /// TLS settings (added to the URI's).
    pub tls: Option<MongoTlsConfig>,
    /// Time to open a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time to find a usable server before an operation fails (retryable), in milliseconds.
    pub server_selection_timeout_ms: u64,
    /// Write concern of every write command: `"majority"` (default) or a number of nodes.
    pub write_concern: String,
    /// Most statements in one `insert` / `update` / `delete` command, values in one `$in` and
    /// documents per reply of a `find` (on FerretDB v1, `update` commands hold at most 16
    /// statements whatever this says).
    pub max_batch: usize,
}

impl Default for MongoStoreConfig {
    fn default() -> Self {
        MongoStoreConfig {
            uri: "mongodb://127.0.0.1:27017".into(),
            database: "fdc".into(),
            errors_collection: "fdc_errors".into(),
            username: None,
            password: None,
            auth_source: None,
            tls: None,
            connect_timeout_ms: 10_000,
            server_selection_timeout_ms: 30_000,
            write_concern: "majority".into(),
            max_batch: 5_000,
        }
    }
}

impl std::fmt::Debug for MongoStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStoreConfig")
            .field("uri", &redact_uri(&self.uri))
            .field("database", &self.database)
            .field("errors_collection", &self.errors_collection)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("auth_source", &self.auth_source)
            .field("tls", &self.tls)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field(
                "server_selection_timeout_ms",
                &self.server_selection_timeout_ms,
            )
            .field("write_concern", &self.write_concern)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 2] = ["authmechanismproperties", "tlscertificatekeyfilepassword"];

/// The URI with the password of its user info and the values of secret parameters replaced by
/// `***` (the user name and hosts stay, they help diagnose).
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        // Not a URI: nothing can be told apart, so nothing is shown.
        return "***".into();
    };
    let (scheme, rest) = uri.split_at(scheme_end + 3);
    let mut out = String::from(scheme);
    // User info ends at the last '@' (a password's own '@' must be percent-encoded, but a
    // stray one only makes us hide more).
    let rest = match rest.rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            out.push_str(user);
            if rest[..at].contains(':') {
                out.push_str(":***");
            }
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    match rest.split_once('?') {
        Some((hosts, query)) => {
            out.push_str(hosts);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                        format!("{k}=***")
                    }
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

/// `message` with every secret replaced by `***`.
pub(crate) fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut m = message.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        m = m.replace(s, "***");
    }
    m
}

impl MongoStoreConfig {
    /// The driver's options for this configuration.
    pub async fn client_options(&self) -> Result<ClientOptions, StoreError> {
        let op = "configure MongoDB";
        let password = self.password.as_ref().map(|p| p.expose().to_owned());
        let uri_password = uri_password(&self.uri);
        let mut secrets: Vec<&str> = Vec::new();
        secrets.extend(password.as_deref());
        secrets.extend(uri_password.as_deref());
        let mut options = ClientOptions::parse(&self.uri).await.map_err(|e| {
            StoreError::fatal(
                op,
                format!(
                    "the URI {} is invalid: {}",
                    redact_uri(&self.uri),
                    scrub(&e.kind.to_string(), &secrets)
                ),
            )
        })?;
        if self.username.is_some() || password.is_some() || self.auth_source.is_some() {
            let from_uri = options.credential.take();
            let username = self
                .username
                .clone()
                .or_else(|| from_uri.as_ref().and_then(|c| c.username.clone()));
            if password.is_some() && username.is_none() {
                return Err(StoreError::fatal(
                    op,
                    "a password is configured but no user name",
                ));
            }
            let mut c = from_uri.unwrap_or_else(|| Credential::builder().build());
            c.username = username;
            if password.is_some() {
                c.password = password;
            }
            if let Some(source) = &self.auth_source {
                c.source = Some(source.clone());
            }
            options.credential = Some(c);
        }
        if let Some(tls) = &self.tls {
            let base = match options.tls.take() {
                Some(Tls::Enabled(t)) => t,
                _ => TlsOptions::builder().build(),
            };
            let mut t = base;
            if tls.ca_file.is_some() {
                t.ca_file_path = tls.ca_file.clone();
            }
            if tls.cert_key_file.is_some() {
                t.cert_key_file_path = tls.cert_key_file.clone();
            }
            if tls.allow_invalid_certificates {
                t.allow_invalid_certificates = Some(true);
            }
            options.tls = Some(Tls::Enabled(t));
        }
        options.connect_timeout = Some(Duration::from_millis(self.connect_timeout_ms));
        options.server_selection_timeout =
            Some(Duration::from_millis(self.server_selection_timeout_ms));
        options.app_name.get_or_insert_with(|| "fdc".into());
        Ok(options)
    }

    /// The `writeConcern` of write commands.
    pub(crate) fn write_concern_document(&self) -> mongodb::bson::Document {
        let w = match self.write_concern.parse::<i32>() {
            Ok(n) => mongodb::bson::Bson::Int32(n),
            Err(_) => mongodb::bson::Bson::String(self.write_concern.clone()),
        };
        mongodb::bson::doc! { "w": w }
    }
}

/// The password of the URI's user info, if any (only to scrub it from messages).
fn uri_password(uri: &str) -> Option<String> {
    let rest = &uri[uri.find("://")? + 3..];
    let info = &rest[..rest.rfind('@')?];
    info.split_once(':').map(|(_, p)| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_lose_passwords_and_secret_parameters() {
        assert_eq!(
            redact_uri("mongodb://fdc:s3cr%40t@db1:27017,db2/?tls=true&authMechanismProperties=AWS_SESSION_TOKEN:abc"),
            "mongodb://fdc:***@db1:27017,db2/?tls=true&authMechanismProperties=***"
        );
        assert_eq!(redact_uri("mongodb://db:27017"), "mongodb://db:27017");
        assert_eq!(redact_uri("mongodb://user@db"), "mongodb://user@db");
        assert_eq!(redact_uri("garbage:pw"), "***");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = MongoStoreConfig {
            uri: "mongodb://fdc:hunter22@127.0.0.1:27017/".into(),
            ..MongoStoreConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("fdc:***@127.0.0.1"));
    }

    #[tokio::test]
    async fn the_password_given_is_used_and_bad_uris_are_scrubbed() {
        let c = MongoStoreConfig {
            username: Some("app".into()),
            password: Some(Secret::new("pa55word")),
            tls: Some(MongoTlsConfig {
                allow_invalid_certificates: true,
                ..MongoTlsConfig::default()
            }),
            ..MongoStoreConfig::default()
        };
        let o = c.client_options().await.unwrap();
        let cred = o.credential.unwrap();
        assert_eq!(cred.username.as_deref(), Some("app"));
        assert_eq!(cred.password.as_deref(), Some("pa55word"));
        assert!(matches!(o.tls, Some(Tls::Enabled(_))));
        assert!(!format!("{c:?}").contains("pa55word"));
        let bad = MongoStoreConfig {
            uri: "mongodb://u:topsecret@host:notaport/".into(),
            ..MongoStoreConfig::default()
        };
        let e = bad.client_options().await.unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        assert!(!e.retryable);
    }
}
