//! A local AWS emulator, and the Python tools the project installs on first use ([`python`]).

pub mod python;
