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

/// Prints the failure's cause chain as one line (each cause once, then
/// what to do about it when the command knows) and returns the exit code.
pub fn report(result: Result<(), Failure>) -> ExitCode {
    let (e, code) = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::CheckFailed(e)) => (e, 1),
        Err(Failure::Unusable(e)) => (e, 2),
    };
    eprintln!("blindfold: {}", one_line(&e));
    if let Some(hint) = crate::hints::hint(&e) {
        eprintln!("blindfold: {hint}");
    }
    ExitCode::from(code)
}

/// The causes joined by ": ", each printed once: a cause whose text its
/// wrapper already carries is not repeated.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
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
