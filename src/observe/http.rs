//! The operations endpoint: a small HTTP/1.1 server on tokio for probes and scrapers.
//!
//! In: a bound listener and the engine's counters. Out, per `GET`:
//! - `/metrics`: the Prometheus text ([`super::exposition::render`]);
//! - `/healthz`: `200 ok` while the process serves (liveness);
//! - `/readyz`: `200 ready`, or `503` with the reasons (not started, stopping, store
//!   unreachable, batch retrying, no broker);
//! - `/status`: the JSON status document (`fdc status` reads it), with the pause state.
//!
//! and per `POST` (the write routes, [`super::control`]; refused with 403 unless a bearer
//! token is configured, 401 without the right one):
//! - `/pause`, `/resume`: pause or resume the whole process, a projection or a single view.
//!
//! Other paths answer 404, other methods 405. Every response closes its connection; a request
//! (head and body) must arrive within 5 s and fit in 8 KiB. A connection's failure never
//! affects the pipeline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fdc_core::secret::Secret;
use fdc_engine::runtime::Counters;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{control, exposition};

/// Longest wait for a request's head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// What the server serves from.
pub struct Endpoint {
    pub counters: Arc<Counters>,
    pub started: Instant,
    /// The role of the process (`all`, `ingest`, `aggregate`), shown by `/status`.
    pub role: String,
    /// The bearer token of the write routes (`None`: they answer 403).
    pub token: Option<Secret>,
}

/// One response.
#[derive(Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

fn text(status: u16, body: impl Into<String>) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The answer to `method path` (the query string is ignored).
pub fn respond(endpoint: &Endpoint, method: &str, target: &str) -> Response {
    if method != "GET" {
        return text(405, "only GET is served (POST on /pause and /resume)\n");
    }
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => Response {
            status: 200,
            content_type: exposition::CONTENT_TYPE,
            body: exposition::render(&endpoint.counters) + &control::metrics(&endpoint.counters),
        },
        "/healthz" => text(200, "ok\n"),
        "/readyz" => {
            let h = endpoint.counters.health().snapshot();
            if h.ready {
                return text(200, "ready\n");
            }
            let mut why = Vec::new();
            if !h.started {
                why.push("not started");
            }
            if h.stopping {
                why.push("stopping");
            }
            if !h.store_reachable {
                why.push("store unreachable");
            }
            if h.retrying {
                why.push("a batch is being retried");
            }
            if h.source_connected == Some(false) {
                why.push("no kafka broker answers");
            }
            text(503, format!("not ready: {}\n", why.join(", ")))
        }
        "/status" => {
            let mut doc = exposition::status(
                &endpoint.counters,
                endpoint.started.elapsed().as_secs(),
                &endpoint.role,
            );
            if let Some(o) = doc.as_object_mut() {
                o.insert("pause".into(), control::status(&endpoint.counters));
            }
            Response {
                status: 200,
                content_type: "application/json",
                body: doc.to_string(),
            }
        }
        _ => text(
            404,
            "not found: try /metrics, /healthz, /readyz or /status\n",
        ),
    }
}

/// A request: method, target, the `Authorization` header, the body.
#[derive(Debug, Default)]
struct Request {
    method: String,
    target: String,
    authorization: Option<String>,
    body: String,
}

/// Where the head ends and the body starts, if the head is complete.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads a request (head, then a body of `Content-Length` bytes); `None` when the peer sent
/// nothing usable in time.
async fn read_request(stream: &mut TcpStream) -> Option<Result<Request, ()>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let mut wanted: Option<usize> = None;
    loop {
        if head.len() > MAX_HEAD {
            return Some(Err(()));
        }
        if let Some(end) = head_end(&head) {
            let length = *wanted.get_or_insert_with(|| content_length(&head[..end]));
            if head.len() >= end + length {
                break;
            }
            if end + length > MAX_HEAD {
                return Some(Err(()));
            }
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => {
                if head.is_empty() {
                    return None;
                }
                break;
            }
            Ok(Ok(n)) => n,
        };
        head.extend_from_slice(&buf[..n]);
    }
    let end = head_end(&head).unwrap_or(head.len());
    let text = String::from_utf8_lossy(&head[..end]).to_string();
    let line = text.lines().next().unwrap_or_default().to_string();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => Some(Ok(Request {
            method: m.to_string(),
            target: t.to_string(),
            authorization: header(&text, "authorization"),
            body: String::from_utf8_lossy(&head[end..]).to_string(),
        })),
        _ => Some(Err(())),
    }
}

/// The value of header `name` (lowercase) in a request head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
    })
}

/// The `Content-Length` of a request head (0 when absent or unreadable).
fn content_length(head: &[u8]) -> usize {
    header(&String::from_utf8_lossy(head), "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The answer to a request: the write routes, or [`respond`].
async fn answer(endpoint: &Endpoint, request: Request) -> Response {
    let path = request.target.split('?').next().unwrap_or_default();
    let pause = match (request.method.as_str(), path) {
        ("POST", "/pause") => true,
        ("POST", "/resume") => false,
        (_, "/pause" | "/resume") => return text(405, "only POST is served here\n"),
        _ => return respond(endpoint, &request.method, &request.target),
    };
    if let Err(refused) =
        control::authorize(endpoint.token.as_ref(), request.authorization.as_deref())
    {
        return refused;
    }
    let parsed = match control::parse(&request.body) {
        Ok(p) => p,
        Err(e) => return text(400, format!("{e}\n")),
    };
    match endpoint.counters.pause() {
        Some(c) => control::apply(c, pause, parsed).await,
        None => control::no_control(),
    }
}

async fn serve_connection(mut stream: TcpStream, endpoint: Arc<Endpoint>) {
    let response = match read_request(&mut stream).await {
        None => return,
        Some(Err(())) => text(400, "bad request\n"),
        Some(Ok(request)) => answer(&endpoint, request).await,
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(response.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serves `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, endpoint.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "operations endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            counters: Arc::new(Counters::default()),
            started: Instant::now(),
            role: "all".into(),
            token: None,
        }
    }

    #[test]
    fn routes_answer_with_their_status() {
        let e = endpoint();
        assert_eq!(respond(&e, "GET", "/healthz").status, 200);
        let r = respond(&e, "GET", "/readyz");
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "not ready: not started\n")
        );
        e.counters.health().started();
        assert_eq!(respond(&e, "GET", "/readyz?verbose").status, 200);
        assert_eq!(respond(&e, "POST", "/metrics").status, 405);
        assert_eq!(respond(&e, "GET", "/nope").status, 404);
        let m = respond(&e, "GET", "/metrics");
        assert_eq!(m.content_type, exposition::CONTENT_TYPE);
        assert!(m.body.contains("fdc_ready 1\n"), "{}", m.body);
        let s: serde_json::Value =
            serde_json::from_str(&respond(&e, "GET", "/status").body).expect("json");
        assert_eq!(s["role"], "all");
        assert_eq!(s["health"]["ready"], true);
    }

    #[tokio::test]
    async fn the_server_answers_over_tcp_and_refuses_garbage() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, Arc::new(endpoint())));
        let ask = |request: &'static [u8]| async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.write_all(request).await.expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            out
        };
        let ok = ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Length: 3\r\n") && ok.ends_with("\r\n\r\nok\n"),
            "{ok}"
        );
        let bad = ask(b"hello\r\n\r\n").await;
        assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
        server.abort();
    }

    /// `POST path` with `authorization` and `body` to `addr`: the raw answer.
    async fn post(
        addr: std::net::SocketAddr,
        path: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn the_write_routes_want_the_token_and_change_the_pause_state() {
        use fdc_engine::runtime::PauseControl;
        use fdc_engine::store::PauseTarget;
        let plan = fdc_plan::Plan {
            version: fdc_plan::PLAN_VERSION,
            projections: Vec::new(),
            single_views: Vec::new(),
        };
        let open = |token: Option<&str>| {
            let mut e = endpoint();
            e.token = token.map(Secret::new);
            e
        };
        // No token configured: refused, whatever the caller sends.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, Arc::new(open(None))));
        let r = post(addr, "/pause", Some("Bearer x"), r#"{"all":true}"#).await;
        assert!(r.starts_with("HTTP/1.1 403 "), "{r}");
        assert!(r.contains("http.token_file"), "{r}");
        server.abort();

        let e = open(Some("s3cret"));
        let store = Arc::new(fdc_embedded::EmbeddedStore::in_memory());
        let control = Arc::new(PauseControl::new(
            store,
            Arc::new(plan),
            Duration::from_secs(60),
        ));
        e.counters.watch_pause(control.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, Arc::new(e)));
        let r = post(addr, "/pause", None, r#"{"all":true}"#).await;
        assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
        let r = post(addr, "/pause", Some("Bearer s3cre"), r#"{"all":true}"#).await;
        assert!(
            r.starts_with("HTTP/1.1 401 ") && !r.contains("s3cret"),
            "{r}"
        );
        assert!(control.snapshot().items.is_empty());
        let r = post(addr, "/pause", Some("Bearer s3cret"), r#"{"all":"x"}"#).await;
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        let r = post(addr, "/pause", Some("Bearer s3cret"), r#"{"view":"nope"}"#).await;
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let r = post(
            addr,
            "/pause",
            Some("Bearer s3cret"),
            r#"{"all":true,"reason":"maintenance","by":"ada"}"#,
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        let items = control.snapshot().items;
        assert_eq!(items.len(), 1);
        assert_eq!(
            (
                &items[0].target,
                items[0].by.as_str(),
                items[0].reason.as_deref()
            ),
            (&PauseTarget::All, "ada", Some("maintenance"))
        );
        let status = post(addr, "/status", None, "").await;
        assert!(status.starts_with("HTTP/1.1 405 "), "{status}");
        let r = post(addr, "/resume", Some("Bearer s3cret"), r#"{"all":true}"#).await;
        assert!(r.contains(r#""resumed":[{"kind":"all","name":""}]"#), "{r}");
        assert!(control.snapshot().items.is_empty());
        server.abort();
    }
}
