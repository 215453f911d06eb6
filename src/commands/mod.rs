//! One module per `fdc` command, each with its `clap::Args` struct and a `run` function that
//! returns the exit code.
//!
//! Errors: every failure ends with a line on stderr that starts with `error: ` (lowercase, as
//! clap's usage errors do); a pipeline that does not compile prints its diagnostics (miette
//! reports) first, then the line `error: <PATH> does not compile (N error(s))`
//! ([`report_not_compiling`]).

use std::path::Path;
use std::process::ExitCode;

pub mod apply;
pub mod check;
pub mod deployed;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod heartbeat;
pub mod imports;
pub mod inspect;
pub mod lsp;
pub mod paths;
pub mod pause;
pub mod plan;
pub mod preview;
#[cfg(feature = "production")]
pub mod production;
pub mod refresh;
pub mod run;
pub mod status;
pub mod status_watch;
pub mod store_dir;
pub mod test;

/// Prints a pipeline's diagnostics, then the `error:` line that ends a failed compilation.
pub fn report_not_compiling(shown: &str, diagnostics: &fdc_dsl::Diagnostics) {
    for report in diagnostics.reports() {
        eprintln!("{report:?}");
    }
    let (errors, _) = diagnostics.counts();
    eprintln!("error: `{shown}` does not compile ({errors} error(s))");
}

/// The tokio runtime of a command: multi-thread to run a deployment, else one thread. When it
/// cannot start, the `error:` line is printed and the exit code is `code`.
pub fn start_runtime(multi_thread: bool, code: u8) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the runtime: {e}");
        ExitCode::from(code)
    })
}

/// Compiles the pipeline at `path`; `None` when it does not compile (reported on stderr).
pub fn load_or_report(path: &Path, imports: &imports::ImportArgs) -> Option<fdc_dsl::Compiled> {
    match imports.compile(path) {
        Ok(c) => Some(c),
        Err(diagnostics) => {
            report_not_compiling(&paths::shown(path), &diagnostics);
            None
        }
    }
}

/// Why a production option fails in a build without the cargo feature `production` (the
/// Kafka and MongoDB adapters).
#[cfg(not(feature = "production"))]
pub const WITHOUT_PRODUCTION: &str = "this fdc was built without the production adapters \
     (Kafka, MongoDB); rebuild with `--features production` (`cargo install --path . \
     --features production`)";
