//! `synth`: the IOps Dashboard stacks as CloudFormation templates, and the packaging step that
//! builds the function code they refer to.

pub mod cli;
pub mod output;
pub mod package;
