//! A pipeline reads files only inside its root: imports (and `validate` schemas) that resolve
//! elsewhere, through `..`, an absolute path or a symbolic link, are refused before anything
//! is read, with a diagnostic at the import's string; directories the caller allows are read,
//! but a non-`.fdl` file there that does not parse is reported without quoting it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use fdc_dsl::{compile_with, compile_with_options, Diagnostics, FsLoader, LoadOptions};
use fdc_dsl::{Loader, MemoryLoader};

const SECRET: &str = "root:x:0:0:TOPSECRET:/root:/bin/bash";

/// A loader that records every path it is asked to read.
struct Recording {
    inner: MemoryLoader,
    reads: RefCell<Vec<PathBuf>>,
}

impl Loader for Recording {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.reads.borrow_mut().push(path.to_path_buf());
        self.inner.read(path)
    }
    fn list(&self, path: &Path) -> Result<Option<Vec<PathBuf>>, String> {
        self.inner.list(path)
    }
}

fn codes(d: &Diagnostics) -> Vec<String> {
    d.items.iter().map(|i| i.code()).collect()
}

/// Every report rendered with its source, as `fdc check` prints them.
fn rendered(d: &Diagnostics) -> String {
    d.reports().iter().map(|r| format!("{r:?}\n")).collect()
}

fn diagnostics(r: Result<fdc_dsl::Compiled, Diagnostics>) -> Diagnostics {
    match r {
        Ok(c) => c.diagnostics,
        Err(d) => d,
    }
}

#[test]
fn imports_outside_the_root_are_refused_before_reading_them() {
    let loader = Recording {
        inner: MemoryLoader::new()
            .with(
                "p/main.fdl",
                "import \"../secret.fdl\"\nimport \"/etc/passwd\"\nimport \"lib/../lib/ok.fdl\"\n",
            )
            .with("p/lib/ok.fdl", "")
            .with("secret.fdl", SECRET)
            .with("/etc/passwd", SECRET),
        reads: RefCell::new(Vec::new()),
    };
    for root in ["p", "p/main.fdl"] {
        loader.reads.borrow_mut().clear();
        let d = diagnostics(compile_with(&loader, &[PathBuf::from(root)]));
        assert_eq!(
            codes(&d),
            ["fdl::load::outside_root", "fdl::load::outside_root"],
            "{root}"
        );
        let reads = loader.reads.borrow().clone();
        assert_eq!(
            reads,
            [PathBuf::from("p/main.fdl"), PathBuf::from("p/lib/ok.fdl")],
            "{root}"
        );
        let text = rendered(&d);
        assert!(!text.contains("TOPSECRET"), "{text}");
        // The diagnostic points at the import's string.
        let json = d.to_json();
        let main = &d.sources.files[0].text;
        let at = |i: usize| {
            let l = &json[i].labels[0];
            &main[l.offset..l.offset + l.length]
        };
        assert_eq!(at(0), "\"../secret.fdl\"");
        assert_eq!(at(1), "\"/etc/passwd\"");
        assert!(json[0].message.contains("outside the pipeline's root"));
    }
}

#[test]
fn a_validate_schema_outside_the_root_is_not_read() {
    let view = "system s {\n  projection c from \"t\" as basic {\n    key id\n    id int\n  }\n}\n\
                single view v {\n  root c\n  key id = c.id\n  validate \"../schema.json\"\n}\n";
    let loader = Recording {
        inner: MemoryLoader::new()
            .with("p/main.fdl", view)
            .with("schema.json", "{\"type\": \"object\"}"),
        reads: RefCell::new(Vec::new()),
    };
    let d = diagnostics(compile_with(&loader, &[PathBuf::from("p")]));
    assert_eq!(codes(&d), ["fdl::check::bad_schema"]);
    assert!(
        d.items[0]
            .problem
            .to_string()
            .contains("outside the pipeline's root"),
        "{}",
        d.items[0].problem
    );
    assert_eq!(*loader.reads.borrow(), [PathBuf::from("p/main.fdl")]);
}

/// A fresh directory under the target directory's temporary space.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fdc-dsl-imports-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
#[test]
fn symbolic_links_out_of_the_root_are_refused() {
    use std::os::unix::fs::symlink;
    let dir = scratch("links");
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::write(dir.join("outside/secret.txt"), SECRET).unwrap();
    std::fs::write(dir.join("outside/secret.fdl"), SECRET).unwrap();
    // An import through a linked directory, and one of a linked file.
    std::fs::create_dir_all(dir.join("p1")).unwrap();
    symlink(dir.join("outside"), dir.join("p1/shared")).unwrap();
    symlink(dir.join("outside/secret.fdl"), dir.join("p1/local.fdl")).unwrap();
    std::fs::write(
        dir.join("p1/main.fdl"),
        "import \"shared/secret.txt\"\nimport \"shared/missing.fdl\"\n",
    )
    .unwrap();
    // A `.fdl` file of the pipeline's directory that is a link to elsewhere.
    std::fs::create_dir_all(dir.join("p2")).unwrap();
    symlink(dir.join("outside/secret.txt"), dir.join("p2/evil.fdl")).unwrap();

    let d = diagnostics(compile_with(&FsLoader, &[dir.join("p1")]));
    assert_eq!(
        codes(&d),
        [
            "fdl::load::outside_root",
            "fdl::load::outside_root",
            "fdl::load::outside_root"
        ],
        "{}",
        rendered(&d)
    );
    // A file that does not exist behind the link is refused too, not reported missing.
    assert!(rendered(&d).contains("shared/missing.fdl"));
    assert!(!rendered(&d).contains("TOPSECRET"), "{}", rendered(&d));

    let d = diagnostics(compile_with(&FsLoader, &[dir.join("p2")]));
    assert_eq!(codes(&d), ["fdl::load::outside_root"]);
    assert!(!rendered(&d).contains("TOPSECRET"), "{}", rendered(&d));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn allowed_directories_are_read_without_quoting_a_non_fdl_file() {
    let dir = scratch("allowed");
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::create_dir_all(dir.join("p")).unwrap();
    std::fs::write(dir.join("outside/secret.txt"), SECRET).unwrap();
    std::fs::write(dir.join("outside/lib.fdl"), "// shared declarations\n").unwrap();
    std::fs::write(dir.join("p/notes.txt"), "not a pipeline\n").unwrap();
    let main = "import \"../outside/secret.txt\"\nimport \"../outside/lib.fdl\"\n";
    std::fs::write(dir.join("p/main.fdl"), main).unwrap();
    let roots = [dir.join("p")];

    // Without the option, both are outside.
    let d = diagnostics(compile_with(&FsLoader, &roots));
    assert_eq!(
        codes(&d),
        ["fdl::load::outside_root", "fdl::load::outside_root"]
    );

    let options = LoadOptions {
        roots: Vec::new(),
        allowed: vec![dir.join("outside")],
    };
    let d = diagnostics(compile_with_options(&FsLoader, &roots, &options));
    assert_eq!(codes(&d), ["fdl::load::not_fdl"], "{}", rendered(&d));
    let text = rendered(&d);
    assert!(!text.contains("TOPSECRET"), "{text}");
    assert!(text.contains("secret.txt"), "{text}");
    let files: Vec<String> = d
        .sources
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(files, ["main.fdl", "lib.fdl"]);

    // Inside the root, a file that does not parse gets the ordinary syntax diagnostics.
    std::fs::write(dir.join("p/main.fdl"), "import \"notes.txt\"\n").unwrap();
    let d = diagnostics(compile_with_options(&FsLoader, &roots, &options));
    assert_eq!(codes(&d), ["fdl::parse::syntax"]);
    assert!(rendered(&d).contains("not a pipeline"), "{}", rendered(&d));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_roots_option_confines_the_pipelines_found_under_a_directory() {
    // `fdc check dir` compiles each pipeline under `dir` with `dir` as the root: a pipeline may
    // import from a sibling, not from outside `dir`.
    let loader = MemoryLoader::new()
        .with("repo/a/main.fdl", "import \"../shared/x.fdl\"\n")
        .with("repo/shared/x.fdl", "")
        .with("elsewhere/y.fdl", "");
    let options = LoadOptions {
        roots: vec![PathBuf::from("repo")],
        allowed: Vec::new(),
    };
    let d = diagnostics(compile_with_options(
        &loader,
        &[PathBuf::from("repo/a")],
        &options,
    ));
    assert!(d.items.is_empty(), "{:?}", codes(&d));
    let loader = loader.with("repo/a/main.fdl", "import \"../../elsewhere/y.fdl\"\n");
    let d = diagnostics(compile_with_options(
        &loader,
        &[PathBuf::from("repo/a")],
        &options,
    ));
    assert_eq!(codes(&d), ["fdl::load::outside_root"]);
}
