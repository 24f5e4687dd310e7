//! The errors of this crate.

/// Every way signing an image can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signing key or certificate cannot be used.
    #[error("signing identity: {0}")]
    Identity(String),
    /// The image cannot be signed as it is.
    #[error("PE: {0}")]
    Image(String),
    /// Encoding the signature failed.
    #[error("encoding the signature: {0}")]
    Encoding(String),
}

impl From<blindfold_measure::Error> for Error {
    fn from(e: blindfold_measure::Error) -> Self {
        Error::Image(e.to_string())
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

impl From<cms::builder::Error> for Error {
    fn from(e: cms::builder::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}
