//! `--allow-imports-from DIR`: the option every command that compiles pipelines shares.
//!
//! In: the directories named on the command line. Out: the [`LoadOptions`] the pipeline is
//! compiled with. Guarantees: by default a pipeline reads only files inside its root (the
//! directory given on the command line, or the directory of the file given), resolved through
//! `..` and symbolic links, so that a pipeline under review (`fdc check` on a pull request)
//! cannot make `fdc` read files elsewhere on the machine; each `--allow-imports-from` widens
//! that by one directory.

use std::path::PathBuf;

use clap::Args;
use fdc_dsl::LoadOptions;

/// The import confinement options of a command.
#[derive(Debug, Clone, Default, Args)]
pub struct ImportArgs {
    /// Also let `import` (and `validate`) read files under DIR (repeatable). By default a
    /// pipeline reads only files inside its root: the directory given, or the directory of the
    /// file given.
    #[arg(long = "allow-imports-from", value_name = "DIR")]
    pub allow_imports_from: Vec<PathBuf>,
}

impl ImportArgs {
    /// The load options of a pipeline whose root is `roots` (the paths the user named).
    pub fn options(&self, roots: &[PathBuf]) -> LoadOptions {
        LoadOptions {
            roots: roots.to_vec(),
            allowed: self.allow_imports_from.clone(),
        }
    }

    /// Compiles the pipeline at `path` (its own root) from the file system.
    pub fn compile(
        &self,
        path: &std::path::Path,
    ) -> Result<fdc_dsl::Compiled, fdc_dsl::Diagnostics> {
        let roots = [path.to_path_buf()];
        fdc_dsl::compile_with_options(&fdc_dsl::FsLoader, &roots, &self.options(&roots))
    }
}
