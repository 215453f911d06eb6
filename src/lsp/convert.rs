//! The compiler's answers in LSP shapes: diagnostics, locations, outlines, completion items.
//!
//! In: an `Analysis` (spans are byte offsets into its sources) and the negotiated position
//! encoding. Out: `lsp_types` values.
//!
//! Guarantees: a diagnostic's message, code and labels are those of `fdc check --format json`
//! (`Diagnostics::to_json`): the primary label is the range, the help follows the message on
//! a line of its own, and the other labels become related information.

use fdc_dsl::ide::complete::{Completion, CompletionKind};
use fdc_dsl::ide::outline::{OutlineItem, OutlineKind};
use fdc_dsl::ide::Analysis;
use fdc_dsl::syntax::{FileId, Span};
use fdc_dsl::Severity;
use lsp_types::{
    CompletionItem, CompletionItemKind, Diagnostic, DiagnosticRelatedInformation,
    DiagnosticSeverity, DocumentSymbol, Documentation, Location, MarkupContent, MarkupKind,
    NumberOrString, Range, SymbolKind,
};
use miette::Diagnostic as _;

use super::text::{uri_of, Encoding, LineIndex};

/// The range of `span` in its file.
pub fn range(a: &Analysis, span: Span, encoding: Encoding) -> Range {
    LineIndex::new(a.text(span.file), encoding).range(span.start, span.end)
}

/// The location of `span`.
pub fn location(a: &Analysis, span: Span, encoding: Encoding) -> Option<Location> {
    let path = &a.diagnostics.sources.get(span.file)?.path;
    Some(Location {
        uri: uri_of(path)?,
        range: range(a, span, encoding),
    })
}

/// The diagnostics of file `id`, in the order `fdc check` reports them.
pub fn diagnostics(a: &Analysis, id: FileId, encoding: Encoding) -> Vec<Diagnostic> {
    let text = a.text(id);
    let ix = LineIndex::new(text, encoding);
    let uri = a.diagnostics.sources.get(id).and_then(|f| uri_of(&f.path));
    let mut out = Vec::new();
    for d in a.diagnostics.items.iter().filter(|d| d.file == Some(id)) {
        let labels: Vec<miette::LabeledSpan> = d.problem.labels().into_iter().flatten().collect();
        let main = labels
            .iter()
            .find(|l| l.primary())
            .or_else(|| labels.first());
        let range = main.map_or_else(
            || ix.range(0, 0),
            |l| ix.range(l.offset(), l.offset() + l.len()),
        );
        let mut message = d.problem.to_string();
        if let Some(help) = d.problem.help() {
            message.push_str(&format!("\nhelp: {help}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = match &uri {
            Some(uri) => labels
                .iter()
                .filter(|l| main.is_none_or(|m| !std::ptr::eq(*l, m)))
                .map(|l| DiagnosticRelatedInformation {
                    location: Location {
                        uri: uri.clone(),
                        range: ix.range(l.offset(), l.offset() + l.len()),
                    },
                    message: l.label().unwrap_or("related").to_string(),
                })
                .collect(),
            None => Vec::new(),
        };
        out.push(Diagnostic {
            range,
            severity: Some(match d.severity() {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code())),
            source: Some("fdc".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Default::default()
        });
    }
    out
}

/// An outline as document symbols.
#[allow(deprecated)] // `DocumentSymbol::deprecated` must be set even though it is deprecated.
pub fn symbols(ix: &LineIndex, items: Vec<OutlineItem>) -> Vec<DocumentSymbol> {
    items
        .into_iter()
        .map(|i| {
            let children = symbols(ix, i.children);
            DocumentSymbol {
                name: i.name,
                detail: i.detail,
                kind: match i.kind {
                    OutlineKind::System => SymbolKind::NAMESPACE,
                    OutlineKind::Projection => SymbolKind::STRUCT,
                    OutlineKind::Field | OutlineKind::Mapping => SymbolKind::FIELD,
                    OutlineKind::Format => SymbolKind::INTERFACE,
                    OutlineKind::Relation => SymbolKind::INTERFACE,
                    OutlineKind::View => SymbolKind::CLASS,
                },
                tags: None,
                deprecated: None,
                range: ix.range(i.span.start, i.span.end),
                selection_range: ix.range(i.name_span.start, i.name_span.end),
                children: (!children.is_empty()).then_some(children),
            }
        })
        .collect()
}

/// A completion item.
pub fn completion(c: Completion) -> CompletionItem {
    CompletionItem {
        label: c.label,
        kind: Some(match c.kind {
            CompletionKind::Keyword => CompletionItemKind::KEYWORD,
            CompletionKind::Projection => CompletionItemKind::STRUCT,
            CompletionKind::Field => CompletionItemKind::FIELD,
            CompletionKind::Relation => CompletionItemKind::REFERENCE,
            CompletionKind::Function => CompletionItemKind::FUNCTION,
            CompletionKind::Type => CompletionItemKind::TYPE_PARAMETER,
            CompletionKind::Format => CompletionItemKind::ENUM_MEMBER,
        }),
        detail: c.detail,
        documentation: c.documentation.map(|d| {
            Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: d,
            })
        }),
        ..Default::default()
    }
}
