//! The paths a command works on: one rule for every command that takes `[PATHS]`.
//!
//! In: the paths given on the command line (maybe none). Out: the paths to process, or a usage
//! error (exit 2) already reported on stderr.
//!
//! The rule (README, "The CLI"):
//! - no path: `pipelines/` when the working directory has one, else `.`;
//! - a path that does not exist is a usage error;
//! - directories are searched as `fdc_plan::discovery` says (hidden directories, `target/`,
//!   `node_modules/` and directories holding a `.fdcignore` marker are skipped), but a path
//!   named on the command line is always processed;
//! - a command that needs one pipeline (`graph`, `explain`) given a directory of pipelines
//!   takes the one it holds, and names them when it holds several.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fdc_dsl::{pipelines, FsLoader};

/// The directory searched when no path is given, if the working directory has it.
pub const DEFAULT_DIR: &str = "pipelines";

/// `paths`, or the default when there is none.
pub fn or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if !paths.is_empty() {
        return paths.to_vec();
    }
    let default = PathBuf::from(DEFAULT_DIR);
    vec![if default.is_dir() {
        default
    } else {
        PathBuf::from(".")
    }]
}

/// Fails with a usage error naming the first path that does not exist.
pub fn existing(paths: &[PathBuf]) -> Result<(), ExitCode> {
    match paths.iter().find(|p| !p.exists()) {
        Some(missing) => {
            eprintln!("error: `{}`: no such file or directory", missing.display());
            Err(ExitCode::from(2))
        }
        None => Ok(()),
    }
}

/// The paths of the one pipeline a command works on: `paths` (default: see [`or_default`]),
/// except that a single directory holding several pipelines' directories is replaced by the
/// one it holds, or is a usage error naming them.
pub fn one_pipeline(paths: &[PathBuf], command: &str) -> Result<Vec<PathBuf>, ExitCode> {
    let paths = or_default(paths);
    existing(&paths)?;
    let [dir] = paths.as_slice() else {
        return Ok(paths);
    };
    if !dir.is_dir() {
        return Ok(paths);
    }
    let found = pipelines(&FsLoader, dir);
    match found.as_slice() {
        [one] => Ok(vec![one.clone()]),
        [] => Ok(paths),
        several => {
            let names: Vec<String> = several.iter().map(|p| shown(p)).collect();
            eprintln!(
                "error: `{}` holds {} pipelines ({}); name one, e.g. `fdc {command} {}`",
                shown(dir),
                several.len(),
                names.join(", "),
                names[0]
            );
            Err(ExitCode::from(2))
        }
    }
}

/// A path as the user would type it (`pipelines/fleet`, not `./pipelines/fleet`).
pub fn shown(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}
