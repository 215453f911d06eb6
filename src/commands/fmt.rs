//! `fdc fmt [--check [--diff]] [PATHS...]`.
//!
//! In: `.fdl` files, or directories searched recursively for them (default `pipelines/` when
//! it exists, else `.`; hidden directories, `target/` and directories holding a `.fdcignore`
//! marker skipped: see `commands::paths`); `-` formats standard input to standard output.
//! Out: each file rewritten in place in the canonical layout (only when it changes), or with
//! `--check` nothing written and the files that would change named (with `--diff`, a unified
//! diff of each).
//!
//! Exit code: 0 all formatted (or rewritten), 1 `--check` found files to change or a file has
//! syntax errors (such a file is reported and never touched), 2 usage errors (a path that does
//! not exist).
//!
//! A directory's files (and subdirectories) whose resolved path lies outside that directory
//! (symbolic links to elsewhere) are reported and neither read nor written: `fmt --check` on
//! a pull request must not quote, and `fmt` must not rewrite, files elsewhere on the machine.
//! `fmt` does not follow imports.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use fdc_dsl::fmt::format_source;
use miette::{NamedSource, Report};

/// Arguments of `fdc fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// `.fdl` files or directories (default: `pipelines/` when it exists, else `.`; directories
    /// holding a `.fdcignore` file are skipped unless named); `-` reads standard input.
    pub paths: Vec<PathBuf>,
    /// Write nothing; exit with status 1 and name the files that are not formatted.
    #[arg(long)]
    pub check: bool,
    /// With `--check`, also print a unified diff of each file that would change.
    #[arg(long, requires = "check")]
    pub diff: bool,
}

/// Runs the command.
pub fn run(args: &FmtArgs) -> ExitCode {
    let paths = super::paths::or_default(&args.paths);
    if paths.iter().any(|p| p.as_os_str() == "-") {
        return if paths.len() == 1 {
            stdin()
        } else {
            eprintln!("error: `-` (standard input) cannot be mixed with paths");
            ExitCode::from(2)
        };
    }
    if let Err(code) = super::paths::existing(&paths) {
        return code;
    }
    let mut files = Vec::new();
    let mut failed = false;
    for p in &paths {
        if !p.exists() {
            eprintln!("error: `{}`: no such file or directory", p.display());
            return ExitCode::from(2);
        }
        let root = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        failed |= !collect(p, &root, true, &mut files);
    }
    let mut changed = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", f.display());
                failed = true;
                continue;
            }
        };
        let formatted = match format_source(&text) {
            Ok(s) => s,
            Err(errors) => {
                report_syntax(f, &text, errors);
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        changed += 1;
        if args.check {
            let _ = writeln!(out, "{}", f.display());
            if args.diff {
                let _ = write!(out, "{}", unified_diff(f, &text, &formatted));
            }
        } else if let Err(e) = std::fs::write(f, &formatted) {
            eprintln!("error: cannot write `{}`: {e}", f.display());
            failed = true;
        }
    }
    if args.check && changed > 0 {
        eprintln!("{changed} of {} file(s) not formatted", files.len());
    }
    if failed || (args.check && changed > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn stdin() -> ExitCode {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: cannot read standard input: {e}");
        return ExitCode::from(1);
    }
    match format_source(&text) {
        Ok(s) => match crate::output::print(&s) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(errors) => {
            report_syntax(Path::new("<stdin>"), &text, errors);
            ExitCode::from(1)
        }
    }
}

fn report_syntax(path: &Path, text: &str, errors: Vec<fdc_dsl::syntax::ParseError>) {
    for e in errors {
        let report = Report::new(e).with_source_code(NamedSource::new(
            path.display().to_string(),
            text.to_string(),
        ));
        eprintln!("{report:?}");
    }
    eprintln!("error: `{}`: not formatted (syntax errors)", path.display());
}

/// `.fdl` files under `path`, sorted; `path` itself when it is a file. Directories found on
/// the way are skipped as `fdc_plan::discovery` says; the one `named` on the command line is
/// not. Entries that resolve outside `root` (the resolved path named on the command line) are
/// reported and left out; `false` when there was one.
fn collect(path: &Path, root: &Path, named: bool, out: &mut Vec<PathBuf>) -> bool {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return true;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        out.push(path.to_path_buf());
        return true;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    if !named && fdc_plan::discovery::marked(&entries) {
        return true;
    }
    let mut clean = true;
    for e in entries {
        let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let wanted = if e.is_dir() {
            !fdc_plan::discovery::skipped_name(name)
        } else {
            e.extension().is_some_and(|x| x == "fdl")
        };
        if !wanted {
            continue;
        }
        match std::fs::canonicalize(&e) {
            Err(err) => {
                eprintln!("error: cannot read `{}`: {err}", e.display());
                clean = false;
                continue;
            }
            Ok(resolved) if !resolved.starts_with(root) => {
                eprintln!(
                    "error: `{}` is a link to outside `{}`: not read nor formatted",
                    e.display(),
                    root.display()
                );
                clean = false;
                continue;
            }
            Ok(_) => {}
        }
        if e.is_dir() {
            clean &= collect(&e, root, false, out);
        } else {
            out.push(e);
        }
    }
    clean
}

/// A unified diff (3 lines of context) from `old` to `new`.
fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let name = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&name, &name)
        .to_string()
}
