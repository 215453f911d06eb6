//! `fdc lsp`: the Language Server Protocol over stdio.
//!
//! In: JSON-RPC messages on stdin (Content-Length framing): the editor's open, change, close
//! and save notifications, and its requests. Out: responses and `publishDiagnostics`
//! notifications on stdout; nothing else is written to stdout.
//!
//! Guarantees: diagnostics come from the same compiler entry point as `fdc check` (same codes,
//! messages and related spans, see `fdc_dsl::ide::analyze`); every query goes through the one
//! analysis layer in `fdc_dsl::ide`. Positions are UTF-16 code units unless the client offers
//! UTF-8. A burst of edits is analysed once: the queue is drained before analysing. No input
//! ends the server but `exit` or the end of stdin; a request whose handler fails gets an
//! error response and the server goes on. Depends on no Kafka or MongoDB code.

mod convert;
mod requests;
pub mod text;
mod workspace;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::{
    CodeActionProviderCapability, CompletionOptions, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    HoverProviderCapability, InitializeParams, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, RenameOptions, ServerCapabilities, TextDocumentSyncCapability,
    TextDocumentSyncKind,
};

use text::{path_of, uri_of, Encoding, LineIndex};
use workspace::{Document, Workspace};

/// Runs the server until the client says `exit` (or closes stdin).
pub fn serve() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    let err = |e: lsp_server::ProtocolError| e.to_string();
    let (id, params) = connection.initialize_start().map_err(err)?;
    let init: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let encoding = negotiate(&init);
    let result = serde_json::json!({
        "capabilities": capabilities(encoding),
        "serverInfo": { "name": "fdc", "version": env!("CARGO_PKG_VERSION") },
    });
    connection.initialize_finish(id, result).map_err(err)?;
    let mut server = Server {
        conn: &connection,
        ws: Workspace::default(),
        encoding,
    };
    server.run().map_err(err)?;
    drop(connection);
    io_threads.join().map_err(|e| e.to_string())
}

/// UTF-8 when the client offers it (no conversion), else UTF-16 (the protocol's default).
fn negotiate(init: &InitializeParams) -> Encoding {
    let offered = init
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref());
    match offered {
        Some(list) if list.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
        _ => Encoding::Utf16,
    }
}

fn capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(match encoding {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "|".into()]),
            ..Default::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..Default::default()
    }
}

/// The server's state.
pub(crate) struct Server<'a> {
    conn: &'a Connection,
    pub ws: Workspace,
    pub encoding: Encoding,
}

impl Server<'_> {
    fn run(&mut self) -> Result<(), lsp_server::ProtocolError> {
        while let Ok(msg) = self.conn.receiver.recv() {
            match msg {
                Message::Request(req) => {
                    if self.conn.handle_shutdown(&req)? {
                        return Ok(());
                    }
                    self.publish();
                    let response = self.answer(req);
                    self.send(response.into());
                }
                Message::Notification(n) => {
                    if n.method == "exit" {
                        return Ok(());
                    }
                    self.notification(n);
                }
                Message::Response(_) => {}
            }
            // Analyse once the burst of messages is over.
            if self.conn.receiver.is_empty() {
                self.publish();
            }
        }
        Ok(())
    }

    fn send(&self, msg: Message) {
        // The client has gone when this fails; the loop ends at the next receive.
        let _ = self.conn.sender.send(msg);
    }

    /// A request's response; a handler that fails (it should not) answers an internal error
    /// instead of ending the server.
    fn answer(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let method = req.method.clone();
        match catch_unwind(AssertUnwindSafe(|| requests::handle(self, req))) {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
            Err(_) => Response::new_err(
                id,
                ErrorCode::InternalError as i32,
                format!("fdc lsp: internal error answering `{method}`"),
            ),
        }
    }

    fn notification(&mut self, n: Notification) {
        let result = catch_unwind(AssertUnwindSafe(|| self.notified(n)));
        if result.is_err() {
            self.log("fdc lsp: internal error handling a notification");
        }
    }

    fn log(&self, message: &str) {
        let params = serde_json::json!({ "type": 1, "message": message });
        self.send(Notification::new("window/logMessage".into(), params).into());
    }

    fn notified(&mut self, n: Notification) {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(path) = path_of(&p.text_document.uri) else {
                    return;
                };
                self.ws.docs.insert(
                    path.clone(),
                    Document {
                        text: p.text_document.text,
                        version: p.text_document.version,
                    },
                );
                self.ws.touch(&path);
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                let Some(path) = path_of(&p.text_document.uri) else {
                    return;
                };
                let encoding = self.encoding;
                let Some(doc) = self.ws.docs.get_mut(&path) else {
                    return;
                };
                for change in p.content_changes {
                    match change.range {
                        None => doc.text = change.text,
                        Some(r) => {
                            let ix = LineIndex::new(&doc.text, encoding);
                            let start = ix.offset(r.start);
                            let end = ix.offset(r.end).max(start);
                            doc.text.replace_range(start..end, &change.text);
                        }
                    }
                }
                doc.version = p.text_document.version;
                self.ws.touch(&path);
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                if let Some(path) = path_of(&p.text_document.uri) {
                    // The file on disk is what counts again.
                    self.ws.docs.remove(&path);
                    self.ws.touch(&path);
                }
            }
            "workspace/didChangeWatchedFiles" => {
                let Ok(p) = serde_json::from_value::<DidChangeWatchedFilesParams>(n.params) else {
                    return;
                };
                for c in p.changes {
                    if let Some(path) = path_of(&c.uri) {
                        self.ws.touch(&path);
                    }
                }
            }
            _ => {}
        }
    }

    /// Analyses the programs edited since the last time and publishes their diagnostics:
    /// every file of each program gets its list (empty when clean), and files that had
    /// diagnostics and left the program are cleared.
    fn publish(&mut self) {
        for root in self.ws.take_unpublished() {
            let Some(a) = self.ws.program(&root) else {
                continue;
            };
            let mut files = BTreeSet::new();
            for (i, src) in a.diagnostics.sources.files.iter().enumerate() {
                let id = fdc_dsl::syntax::FileId(u32::try_from(i).unwrap_or(u32::MAX));
                let diagnostics = convert::diagnostics(&a, id, self.encoding);
                files.insert(src.path.clone());
                self.publish_file(&src.path, diagnostics);
            }
            for gone in self.ws.published(&root, files) {
                self.publish_file(&gone, Vec::new());
            }
        }
    }

    fn publish_file(&self, path: &std::path::Path, diagnostics: Vec<lsp_types::Diagnostic>) {
        let Some(uri) = uri_of(path) else {
            return;
        };
        let version = self.ws.docs.get(path).map(|d| d.version);
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        match serde_json::to_value(params) {
            Ok(v) => {
                self.send(Notification::new("textDocument/publishDiagnostics".into(), v).into())
            }
            Err(e) => self.log(&format!("fdc lsp: {e}")),
        }
    }
}
