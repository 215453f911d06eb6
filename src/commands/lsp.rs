//! `fdc lsp`: the language server for editors (docs/editors.md).
//!
//! In: the Language Server Protocol on stdin (an editor starts the process). Out: responses
//! and diagnostics on stdout; exit code 0 after `shutdown` and `exit`, 1 when the protocol
//! breaks (stdin closed before `initialize`, a malformed message).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `fdc lsp`.
#[derive(Debug, Args)]
pub struct LspArgs {
    /// Accepted for editor clients that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

/// Runs the command.
pub fn run(_args: &LspArgs) -> ExitCode {
    match crate::lsp::serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: fdc lsp: {e}");
            ExitCode::from(1)
        }
    }
}
