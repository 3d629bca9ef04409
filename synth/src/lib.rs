//! `synth`: the IOps Dashboard stacks as CloudFormation templates, the packaging step that
//! builds the function code they refer to, and the diff of the templates against a base.

pub mod cli;
pub mod deployed;
pub mod diff;
pub mod output;
pub mod package;
pub mod template_text;
