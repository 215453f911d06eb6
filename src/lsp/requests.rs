//! One handler per request: hover, definition, references, rename, completion, formatting,
//! document symbols, code actions.
//!
//! In: a request and the server state. Out: the JSON result (`null` when there is nothing at
//! the position), or an error code and message for invalid parameters.
//!
//! Guarantees: every handler reads the current analysis of the file's program (re-analysed
//! after edits before any answer); positions go through `text::LineIndex` both ways.

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_server::{ErrorCode, Request};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionParams,
    CompletionResponse, DocumentFormattingParams, DocumentSymbolParams, DocumentSymbolResponse,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams, MarkupContent,
    MarkupKind, Position, PrepareRenameResponse, ReferenceParams, RenameParams,
    TextDocumentPositionParams, TextEdit, Uri, WorkspaceEdit,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::convert;
use super::text::{path_of, LineIndex};
use super::Server;
use fdc_dsl::ide::{self, Analysis};
use fdc_dsl::syntax::{FileId, Span};

/// A handler's failure: an error code and message for the client.
pub type Failure = (ErrorCode, String);

fn params<P: DeserializeOwned>(req: Request) -> Result<P, Failure> {
    serde_json::from_value(req.params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn json<T: serde::Serialize>(v: T) -> Result<Value, Failure> {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

fn path(uri: &Uri) -> Result<PathBuf, Failure> {
    path_of(uri).ok_or_else(|| {
        (
            ErrorCode::InvalidParams,
            format!("not a file URI: {}", uri.as_str()),
        )
    })
}

/// The handler of `req.method`.
pub fn handle(s: &mut Server, req: Request) -> Result<Value, Failure> {
    match req.method.as_str() {
        "textDocument/hover" => hover(s, params(req)?),
        "textDocument/definition" => definition(s, params(req)?),
        "textDocument/references" => references(s, params(req)?),
        "textDocument/prepareRename" => prepare_rename(s, params(req)?),
        "textDocument/rename" => rename(s, params(req)?),
        "textDocument/completion" => completion(s, params(req)?),
        "textDocument/formatting" => formatting(s, params(req)?),
        "textDocument/documentSymbol" => symbols(s, params(req)?),
        "textDocument/codeAction" => code_actions(s, params(req)?),
        other => Err((
            ErrorCode::MethodNotFound,
            format!("fdc lsp does not handle `{other}`"),
        )),
    }
}

/// The analysis of the file at `p.text_document`, the file's id in it and the byte offset
/// of `p.position` (`None`: the file is not part of the analysed program).
fn at(
    s: &mut Server,
    uri: &Uri,
    position: Position,
) -> Result<Option<(std::rc::Rc<Analysis>, FileId, usize)>, Failure> {
    let path = path(uri)?;
    let a = s.ws.analysis(&path);
    let Some(id) = a.file_id(&path) else {
        return Ok(None);
    };
    let offset = LineIndex::new(a.text(id), s.encoding).offset(position);
    Ok(Some((a, id, offset)))
}

fn hover(s: &mut Server, p: HoverParams) -> Result<Value, Failure> {
    let tp = p.text_document_position_params;
    let Some((a, id, offset)) = at(s, &tp.text_document.uri, tp.position)? else {
        return Ok(Value::Null);
    };
    let Some(h) = ide::hover::hover(&a, id, offset) else {
        return Ok(Value::Null);
    };
    json(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: h.markdown,
        }),
        range: Some(convert::range(&a, h.span, s.encoding)),
    })
}

fn definition(s: &mut Server, p: GotoDefinitionParams) -> Result<Value, Failure> {
    let tp = p.text_document_position_params;
    let Some((a, id, offset)) = at(s, &tp.text_document.uri, tp.position)? else {
        return Ok(Value::Null);
    };
    if let Some((_, target)) = a.import_at(id, offset) {
        let loc = convert::location(&a, Span::new(target, 0, 0), s.encoding);
        return json(loc.map(GotoDefinitionResponse::Scalar));
    }
    let Some(o) = a.symbol_at(id, offset) else {
        return Ok(Value::Null);
    };
    let loc = a
        .definition(&o.symbol)
        .and_then(|d| convert::location(&a, d.name, s.encoding));
    json(loc.map(GotoDefinitionResponse::Scalar))
}

fn references(s: &mut Server, p: ReferenceParams) -> Result<Value, Failure> {
    let tp = p.text_document_position;
    let Some((a, id, offset)) = at(s, &tp.text_document.uri, tp.position)? else {
        return Ok(Value::Null);
    };
    // On an `import`: every import of that file.
    if let Some((_, target)) = a.import_at(id, offset) {
        let locations: Vec<_> = a
            .imports_of(target)
            .into_iter()
            .filter_map(|span| convert::location(&a, span, s.encoding))
            .collect();
        return json(locations);
    }
    let Some(o) = a.symbol_at(id, offset) else {
        return Ok(Value::Null);
    };
    let locations: Vec<_> = a
        .references(&o.symbol, p.context.include_declaration)
        .into_iter()
        .filter_map(|span| convert::location(&a, span, s.encoding))
        .collect();
    json(locations)
}

fn prepare_rename(s: &mut Server, p: TextDocumentPositionParams) -> Result<Value, Failure> {
    let Some((a, id, offset)) = at(s, &p.text_document.uri, p.position)? else {
        return Ok(Value::Null);
    };
    match a.symbol_at(id, offset) {
        Some(o) => json(PrepareRenameResponse::Range(convert::range(
            &a, o.span, s.encoding,
        ))),
        None => Ok(Value::Null),
    }
}

fn rename(s: &mut Server, p: RenameParams) -> Result<Value, Failure> {
    let tp = p.text_document_position;
    let Some((a, id, offset)) = at(s, &tp.text_document.uri, tp.position)? else {
        return Ok(Value::Null);
    };
    let edits = a
        .rename(id, offset, &p.new_name)
        .map_err(|e| (ErrorCode::InvalidParams, e))?;
    json(workspace_edit(&a, edits, s))
}

fn completion(s: &mut Server, p: CompletionParams) -> Result<Value, Failure> {
    let tp = p.text_document_position;
    let path = path(&tp.text_document.uri)?;
    let current = s.ws.analysis(&path);
    // The text as it is now (also when it does not parse).
    let text: String = match s.ws.docs.get(&path) {
        Some(d) => d.text.clone(),
        None => current
            .file_id(&path)
            .map(|id| current.text(id).to_string())
            .unwrap_or_default(),
    };
    let offset = LineIndex::new(&text, s.encoding).offset(tp.position);
    let names = s.ws.names_for(&path);
    let file = names.file_id(&path);
    let items: Vec<_> = ide::complete::complete(&names, file, &text, offset)
        .into_iter()
        .map(convert::completion)
        .collect();
    json(CompletionResponse::Array(items))
}

fn formatting(s: &mut Server, p: DocumentFormattingParams) -> Result<Value, Failure> {
    let path = path(&p.text_document.uri)?;
    let a = s.ws.analysis(&path);
    let Some(id) = a.file_id(&path) else {
        return Ok(Value::Null);
    };
    let text = a.text(id);
    // Text that does not parse is left alone (its diagnostics say why).
    let Ok(formatted) = fdc_dsl::fmt::format_source(text) else {
        return Ok(Value::Null);
    };
    if formatted == text {
        return json(Vec::<TextEdit>::new());
    }
    let ix = LineIndex::new(text, s.encoding);
    json(vec![TextEdit {
        range: ix.range(0, text.len()),
        new_text: formatted,
    }])
}

fn symbols(s: &mut Server, p: DocumentSymbolParams) -> Result<Value, Failure> {
    let path = path(&p.text_document.uri)?;
    let a = s.ws.analysis(&path);
    let Some(file) = a.file_id(&path).and_then(|id| a.file(id)) else {
        return json(DocumentSymbolResponse::Nested(Vec::new()));
    };
    let text = a.text(file.id);
    let ix = LineIndex::new(text, s.encoding);
    let outline = ide::outline::outline(file, text);
    json(DocumentSymbolResponse::Nested(convert::symbols(
        &ix, outline,
    )))
}

fn code_actions(s: &mut Server, p: CodeActionParams) -> Result<Value, Failure> {
    let path = path(&p.text_document.uri)?;
    let a = s.ws.analysis(&path);
    let Some(id) = a.file_id(&path) else {
        return Ok(Value::Null);
    };
    let ix = LineIndex::new(a.text(id), s.encoding);
    let (from, to) = (ix.offset(p.range.start), ix.offset(p.range.end));
    let shown = convert::diagnostics(&a, id, s.encoding);
    let mut actions = Vec::new();
    let in_file = a.diagnostics.items.iter().filter(|d| d.file == Some(id));
    for (d, lsp) in in_file.zip(shown) {
        let (start, end) = (ix.offset(lsp.range.start), ix.offset(lsp.range.end));
        if end < from || start > to {
            continue;
        }
        for fix in ide::fix::fixes(&a, d) {
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![lsp.clone()]),
                edit: Some(workspace_edit(&a, fix.edits, s)),
                ..Default::default()
            }));
        }
    }
    json(actions)
}

/// Edits (spans in `a`'s files) as a workspace edit.
// `lsp_types::Uri` hashes and compares by its text (its own impls); the `Cell` clippy sees
// is internal to fluent-uri and not part of that.
#[allow(clippy::mutable_key_type)]
fn workspace_edit(a: &Analysis, edits: Vec<(Span, String)>, s: &Server) -> WorkspaceEdit {
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for (span, new_text) in edits {
        if let Some(loc) = convert::location(a, span, s.encoding) {
            changes.entry(loc.uri).or_default().push(TextEdit {
                range: loc.range,
                new_text,
            });
        }
    }
    WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }
}
