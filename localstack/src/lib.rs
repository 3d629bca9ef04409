//! The local AWS environment of the IOps Dashboard: the synthesized stacks deployed to an
//! emulator ([`emulator`]).

pub use emulator;
