//! No crate of the engine reads the environment: the CLI reads the `FDC_*` variables and the
//! credentials and hands the engine options and secrets (`DiskOptions` in a `StoreSpec`,
//! `fdc_core::secret::Secret`). The one exception is the test-only fault injection
//! (`engine/mongo/src/fault.rs`, feature `fault-injection`).
//!
//! A text scan of the `src/` of every engine crate (the runtime, `fdc-core`, the adapters and
//! `fdc-topology`): test files and the `#[cfg(test)]` part of a file are left out.

use std::path::{Path, PathBuf};

/// The crates scanned, as directories under `engine/` ("" is the runtime itself).
const CRATES: [&str; 7] = ["", "core", "embedded", "file", "kafka", "mongo", "topology"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_engine_crate_reads_an_environment_variable() {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut readers = Vec::new();
    for krate in CRATES {
        let src = engine.join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(!files.is_empty(), "no source files under {}", src.display());
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "tests.rs" || name.ends_with("_tests.rs") || name == "fault.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            if ["env::var(", "env::var_os(", "env::vars("]
                .iter()
                .any(|read| code.contains(read))
            {
                readers.push(
                    path.strip_prefix(engine)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert!(readers.is_empty(), "the environment is read in {readers:?}");
}
