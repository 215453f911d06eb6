//! Content-Length framing of JSON-RPC messages, as LSP speaks it over stdio: shared by the
//! `fdc lsp` tests (`tests/lsp.rs`) and benchmark (`benches/lsp.rs`), both included with
//! `#[path]`.

use std::io::BufRead;

use serde_json::Value;

/// The next framed message, or `None` at the end of the stream or on a malformed frame.
pub fn read_frame(r: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// `v` framed for writing.
pub fn frame(v: &Value) -> String {
    let body = v.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len())
}
