//! Standard output of the commands.
//!
//! A reader that stops early (`fdc graph | head`) closes the pipe: the rest of the output is
//! dropped quietly and the command keeps its own exit code, where `print!` would panic. Any
//! other write error (a full disk behind a redirect) is reported on standard error and fails
//! the command with status 1.

use std::io::{self, Write};
use std::process::ExitCode;

/// Writes `text` to standard output and flushes it. `Err` is the exit code of a failed write.
pub fn print(text: &str) -> Result<(), ExitCode> {
    let mut out = io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// The outcome of a write to standard output: a closed pipe is not a failure.
pub fn written(result: io::Result<()>) -> Result<(), ExitCode> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            Err(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_not_a_failure_but_other_errors_are() {
        assert!(written(Err(io::Error::from(io::ErrorKind::BrokenPipe))).is_ok());
        assert!(written(Err(io::Error::from(io::ErrorKind::StorageFull))).is_err());
        assert!(written(Ok(())).is_ok());
    }
}
