//! The local AWS environment of the IOps Dashboard.
//!
//! Today: the Python tools the tests install on first use ([`python`]). The emulator handle,
//! deploy and local runtime of the pipeline-test issue build on it.

pub mod python;
