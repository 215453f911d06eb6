//! `fdc inspect PIPELINE --store DIR (view NAME | projection NAME) KEY...`.
//!
//! In: a pipeline (for names and key types), an embedded store directory written by `fdc run
//! --store`, and a key (one value per key field: JSON such as `42` or `"a b"`, or plain text
//! for strings). Out: the single-view document or projection record as pretty JSON on stdout.
//! Exit code: 0 found, 1 not found or the pipeline does not compile, 2 usage (unknown name,
//! wrong key).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use fdc_engine::store::record::{Ordered, OrderedRecord};
use fdc_engine::store::{ProjectionStore, SingleViewStore};
use fdc_engine::value::Value;
use fdc_topology::{open_store, StoreSpec};

/// Arguments of `fdc inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The pipeline: a `.fdl` file or a directory of them.
    pub pipeline: PathBuf,
    /// The store directory given to `fdc run --store`.
    #[arg(long)]
    pub store: PathBuf,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
    #[command(subcommand)]
    pub what: Target,
}

/// What to show.
#[derive(Debug, Subcommand)]
pub enum Target {
    /// A single-view document.
    View { name: String, key: Vec<String> },
    /// A projection record.
    Projection { name: String, key: Vec<String> },
}

/// Runs `fdc inspect`.
pub fn run(args: &InspectArgs) -> ExitCode {
    let Some(plan) = super::load_or_report(&args.pipeline, &args.imports).map(|c| c.plan) else {
        return ExitCode::from(1);
    };
    let runtime = match super::start_runtime(false, 1) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let spec = StoreSpec::ExistingDirectory {
        path: args.store.clone(),
        disk: super::store_dir::options(),
    };
    let store = match runtime
        .block_on(open_store(&spec))
        .map(|s| s.embedded().cloned())
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("error: `--store` opened another kind of store");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.code);
        }
    };
    let found: Result<Option<String>, String> = match &args.what {
        Target::View { name, key } => {
            let Some(view) = plan.single_view(name) else {
                eprintln!("error: no single view named `{name}`");
                return ExitCode::from(2);
            };
            match parse_key(&plan.view_key_types(view), key) {
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
                Ok(k) => runtime
                    .block_on(SingleViewStore::get_many(store.as_ref(), name, &[k]))
                    .map(|mut d| {
                        d.pop()
                            .flatten()
                            .map(|d| pretty(&Ordered(&Value::Object(d))))
                    })
                    .map_err(|e| e.to_string()),
            }
        }
        Target::Projection { name, key } => {
            let Some(projection) = plan.projection(name) else {
                eprintln!("error: no projection named `{name}`");
                return ExitCode::from(2);
            };
            match parse_key(&projection.key_types(), key) {
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
                Ok(k) => runtime
                    .block_on(ProjectionStore::get_many(store.as_ref(), name, &[k]))
                    .map(|mut r| r.pop().flatten().map(|r| pretty(&OrderedRecord(&r))))
                    .map_err(|e| e.to_string()),
            }
        }
    };
    match found {
        Ok(Some(text)) => match crate::output::print(&(text + "\n")) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Ok(None) => {
            eprintln!("not found");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A key given on the command line, read in the type of each key field: JSON when it parses
/// (`42`, `"x"`), else the text as a string.
pub fn parse_key(types: &[fdc_plan::Type], args: &[String]) -> Result<Vec<Value>, String> {
    if types.len() != args.len() {
        return Err(format!(
            "the key has {} field(s), {} value(s) given",
            types.len(),
            args.len()
        ));
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (ty, a))| {
            let json = serde_json::from_str(a).unwrap_or(serde_json::Value::String(a.clone()));
            let json = match (ty, &json) {
                (fdc_plan::Type::String, serde_json::Value::Number(_)) => {
                    serde_json::Value::String(a.clone())
                }
                _ => json,
            };
            Value::from_json_typed(&json, ty)
                .ok_or_else(|| format!("key value {} is not a valid {ty}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_read_in_the_type_of_its_field() {
        let key = parse_key(&[fdc_plan::Type::Int], &["1".into()]).unwrap();
        assert_eq!(key, vec![Value::Int(1)]);
        assert_eq!(
            parse_key(&[fdc_plan::Type::String], &["007".into()]).unwrap(),
            vec![Value::String("007".into())]
        );
        assert_eq!(
            parse_key(&[fdc_plan::Type::Int], &["x".into()]),
            Err("key value 1 is not a valid int".into())
        );
        assert!(parse_key(&[fdc_plan::Type::Int], &[]).is_err());
    }
}
