//! Maps every outcome to an exit code and a one-line message, in one place.

use std::process::ExitCode;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A check ran and failed (exit 1).
    CheckFailed(anyhow::Error),
    /// The input could not be used (exit 2).
    Unusable(anyhow::Error),
}

impl Failure {
    /// Adds context, keeping the kind (and so the exit code).
    pub fn context(self, context: impl std::fmt::Display + Send + Sync + 'static) -> Failure {
        match self {
            Failure::CheckFailed(e) => Failure::CheckFailed(e.context(context)),
            Failure::Unusable(e) => Failure::Unusable(e.context(context)),
        }
    }
}

/// Shorthand for an unusable-input failure with context.
pub fn unusable(e: impl Into<anyhow::Error>, context: impl std::fmt::Display) -> Failure {
    Failure::Unusable(e.into().context(context.to_string()))
}

/// Prints the failure's cause chain as one line and returns the exit code.
pub fn report(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::CheckFailed(e)) => {
            eprintln!("blindfold: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::Unusable(e)) => {
            eprintln!("blindfold: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes one line to stdout. A reader that went away (`| head`) ends the
/// program quietly instead of panicking.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("blindfold: cannot write output: {e}");
        std::process::exit(2);
    }
}

/// `println!` through [`write_line`].
macro_rules! say {
    ($($arg:tt)*) => { $crate::exit::write_line(format_args!($($arg)*)) };
}
pub(crate) use say;
