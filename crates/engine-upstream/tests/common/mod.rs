//! Shared by the upstream engine's tests.
#![allow(dead_code, unused_imports, clippy::unwrap_used, missing_docs)]

pub use blindfold_testdata::generation::{finish, greedy, runtime};
