//! One module per `fdc` command, each with its `clap::Args` struct and a `run` function that
//! returns the exit code.

pub mod check;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod inspect;
pub mod paths;
pub mod refresh;
pub mod run;
pub mod status;
pub mod test;
