//! A credential handed to an adapter (Kafka SASL and TLS key passwords, the MongoDB password).
//!
//! In: the credential, read by the caller (the CLI reads the variable or file its configuration
//! names: the engine reads no environment). Out: a value whose `Debug` and `Display` print
//! `***`, read with [`Secret::expose`] only to hand it to a client library.

use std::fmt;

/// A credential. Prints as `***`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself (only to hand it to a client library).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
