//! The errors of this crate.

/// Every way building an image can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input is missing or not what it should be.
    #[error("{0}")]
    Input(String),
    /// The image specification is malformed.
    #[error("image specification: {0}")]
    Spec(String),
    /// Measuring (UKI, app disk, prediction) failed.
    #[error("{0}")]
    Measure(#[from] blindfold_measure::Error),
    /// Signing the UKI failed.
    #[error("signing the UKI: {0}")]
    Sign(#[from] blindfold_uefi_sign::Error),
    /// Writing the output failed.
    #[error("{0}")]
    Output(String),
}
