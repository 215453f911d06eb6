//! Driver and server errors as [`StoreError`]s: retryable or fatal, never holding values.
//!
//! In: a `mongodb::error::Error`, or a server `code` from `writeErrors`. Out: a [`StoreError`]
//! whose message names the kind of failure and the server code, never the driver's full text
//! (a server message can quote a duplicate key or a document).
//!
//! Retryable: network errors, server selection, timeouts, pool clears, the server codes of
//! recovering / not-primary / shutting-down nodes and of exceeded time limits, and anything the
//! driver labels retryable. Everything else (bad configuration, authentication, a refused
//! command) is fatal.

use mongodb::error::{Error, ErrorKind, WriteFailure};

use fdc_core::store::StoreError;

/// Server codes after which the same call may succeed later.
const RETRYABLE_CODES: [i32; 17] = [
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    134,   // ReadConcernMajorityNotAvailableYet
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
    64,    // WriteConcernFailed (wtimeout): the write may not be durable yet
    10058, // LegacyNotPrimary
];

/// Whether a server code is worth a retry.
pub fn code_is_retryable(code: i32) -> bool {
    RETRYABLE_CODES.contains(&code)
}

/// The store error for a server `code` met while doing `operation`.
pub fn from_code(operation: &str, code: i32, what: &str) -> StoreError {
    let message = format!("{what} (server code {code})");
    if code_is_retryable(code) {
        StoreError::retryable(operation, message)
    } else {
        StoreError::fatal(operation, message)
    }
}

/// The store error for a driver error met while doing `operation`.
pub fn from_driver(operation: &str, e: &Error) -> StoreError {
    let labelled = e.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
        || e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR);
    let (message, retryable) = match e.kind.as_ref() {
        ErrorKind::Io(io) => (format!("network error ({})", io.kind()), true),
        ErrorKind::ConnectionPoolCleared { .. } => ("connection pool cleared".to_owned(), true),
        ErrorKind::ServerSelection { .. } => (
            "no MongoDB server reachable (server selection timed out)".to_owned(),
            true,
        ),
        ErrorKind::DnsResolve { .. } => ("DNS resolution failed".to_owned(), true),
        ErrorKind::Authentication { .. } => ("authentication failed".to_owned(), false),
        ErrorKind::Command(c) => (
            format!(
                "server refused the command: {} (code {})",
                c.code_name, c.code
            ),
            code_is_retryable(c.code),
        ),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => (
            format!(
                "write concern not satisfied: {} (code {})",
                w.code_name, w.code
            ),
            true,
        ),
        ErrorKind::Write(WriteFailure::WriteError(w)) => (
            format!("write refused (code {})", w.code),
            code_is_retryable(w.code),
        ),
        ErrorKind::InsertMany(i) => {
            let codes: Vec<i32> = i.write_errors.iter().flatten().map(|w| w.code).collect();
            let retryable = i.write_concern_error.is_some()
                || (!codes.is_empty() && codes.iter().all(|c| code_is_retryable(*c)));
            (format!("insert refused (codes {codes:?})"), retryable)
        }
        ErrorKind::InvalidTlsConfig { .. } => ("invalid TLS configuration".to_owned(), false),
        ErrorKind::InvalidArgument { .. } => ("invalid argument".to_owned(), false),
        ErrorKind::BsonSerialization(_) | ErrorKind::BsonDeserialization(_) => {
            ("a document could not be converted".to_owned(), false)
        }
        ErrorKind::InvalidResponse { .. } => ("invalid server response".to_owned(), false),
        ErrorKind::IncompatibleServer { .. } => ("incompatible server".to_owned(), false),
        ErrorKind::Shutdown => ("the client was shut down".to_owned(), false),
        _ => ("driver error".to_owned(), false),
    };
    if retryable || labelled {
        StoreError::retryable(operation, message)
    } else {
        StoreError::fatal(operation, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_split_into_retryable_and_fatal() {
        assert!(from_code("w", 189, "x").retryable);
        assert!(!from_code("w", 11000, "x").retryable);
        assert!(from_code("w", 2, "bad value")
            .to_string()
            .contains("code 2"));
    }
}
