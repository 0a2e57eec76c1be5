//! What the CLI prints on standard output. A closed pipe (`sluice run job.yaml | head -1`)
//! is not an error: the rest of the output is dropped and the command finishes as it
//! would have, exiting 0, instead of panicking in `println!`.

use std::io::Write as _;

/// Writes `text` to stdout and flushes; a closed pipe is ignored, other failures are
/// logged.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!(error = %e, "writing to stdout failed");
    }
}

/// `println!` through [`emit`]: a line on stdout that a closed pipe does not turn into a
/// panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::emit(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;
