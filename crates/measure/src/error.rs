//! The errors of this crate.

/// Every way measuring can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A case the prediction does not cover (it refuses rather than guess).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A PE image that cannot be measured.
    #[error("PE: {0}")]
    Pe(String),
    /// Building or checking a verity tree failed.
    #[error("{0}")]
    Verity(blindfold_verity::Error),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

impl From<blindfold_verity::Error> for Error {
    fn from(e: blindfold_verity::Error) -> Self {
        Error::Verity(e)
    }
}
