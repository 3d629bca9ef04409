//! The CloudFormation model: a template, values that are literals or intrinsics, what the
//! resource provider schemas say about each type, and the typed (L1) resources generated from
//! those schemas.
//!
//! ```
//! use cfn::{resources::kinesis, Expr, Resource, Template};
//!
//! let stream = kinesis::Stream { shard_count: Some(2.into()), ..kinesis::Stream::default() };
//! let mut template = Template::default();
//! template.resources.insert("Events".into(), Resource::new(&stream));
//! assert!(template.validate().is_empty());
//! let arn = Expr::get_att("Events", "Arn");
//! assert_eq!(arn.json(), serde_json::json!({"Fn::GetAtt": ["Events", "Arn"]}));
//! ```

pub mod resources;
pub mod spec;
pub mod template;
pub mod validate;
pub mod value;

pub use spec::{PropertySpec, ResourceProperties, ResourceSpec};
pub use template::{Export, Output, Parameter, ParameterType, Policy, Resource, Template};
pub use validate::{Problem, TemplateProblem};
pub use value::{Expr, Map, Pseudo, Value};
