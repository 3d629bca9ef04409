//! Constructs in the spirit of aws-cdk-lib, over the `cfn` model: `new(scope, id, props)`,
//! secure defaults (encryption, TLS-only policies, blocked public access, log retention),
//! `grant_*` methods that write least-privilege IAM, event sources that bring their own
//! permissions, logical IDs derived from construct paths, and validation that reports every
//! problem with its construct path.
//!
//! ```
//! use constructs::{Environment, Stack, StackProps, kinesis, sqs};
//!
//! let stack = Stack::new("Demo", StackProps {
//!     env: Environment { account: None, region: "us-east-2".into() },
//!     description: None,
//!     workspace_root: None,
//! });
//! let stream = kinesis::Stream::new(&stack, "Events", kinesis::StreamProps::default());
//! sqs::Queue::new(&stack, "DeadLetters", sqs::QueueProps::default());
//! let template = stack.synth().expect("a valid stack");
//! assert_eq!(template.resources["Events"].type_name, "AWS::Kinesis::Stream");
//! assert_eq!(stream.write_capacity().records_per_second, 1_000);
//! ```

pub mod apigateway;
pub mod assets;
pub mod cloudwatch;
mod core;
pub mod dynamodb;
pub mod firehose;
pub mod iam;
pub mod kinesis;
pub mod kms;
pub mod lambda;
pub mod logs;
mod problem;
pub mod s3;
pub mod sns;
pub mod sqs;

pub use crate::core::{
    Environment, PATH_METADATA_KEY, ResourceRef, Scope, Stack, StackProps, logical_id_for,
};
pub use crate::problem::{Problem, ValidationError, ValidationErrors};

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    use crate::{Environment, Stack, StackProps};

    pub fn stack_in(region: &str) -> Stack {
        Stack::new(
            "Test",
            StackProps {
                env: Environment {
                    account: None,
                    region: region.into(),
                },
                description: None,
                workspace_root: None,
            },
        )
    }

    pub fn stack() -> Stack {
        stack_in("us-east-2")
    }

    /// A stack whose Rust function assets come from this workspace.
    pub fn workspace_stack() -> Stack {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        Stack::new(
            "Test",
            StackProps {
                env: Environment {
                    account: None,
                    region: "us-east-2".into(),
                },
                description: None,
                workspace_root: Some(root),
            },
        )
    }
}
