//! Kinesis Data Streams: encrypted streams that know their write capacity.

use std::num::NonZeroU32;
use std::time::Duration;

use cfn::resources::kinesis;
use cfn::{Expr, Policy, Resource};

use crate::cloudwatch::{Metric, Statistic};
use crate::core::{ResourceRef, Scope};
use crate::iam::{Action, Grantee};
use crate::problem::Problem;

/// Capacity mode. Provisioned streams have a fixed number of shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Provisioned { shards: NonZeroU32 },
    OnDemand,
}

/// How the stream encrypts records at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamEncryption {
    /// KMS with the AWS managed key `alias/aws/kinesis`: producers and consumers need no KMS
    /// permissions of their own.
    #[default]
    Managed,
}

#[derive(Debug, Clone)]
pub struct StreamProps {
    /// Default: a name CloudFormation generates.
    pub stream_name: Option<String>,
    /// Default: provisioned, one shard.
    pub mode: StreamMode,
    /// 24 h to 8760 h. Default: 24 h.
    pub retention: Duration,
    pub encryption: StreamEncryption,
    /// What happens to the stream (and the records it holds) when it leaves the stack or is
    /// replaced. Default: retained, as every stateful resource here.
    pub removal_policy: Policy,
}

impl Default for StreamProps {
    fn default() -> Self {
        StreamProps {
            stream_name: None,
            mode: StreamMode::Provisioned {
                shards: NonZeroU32::MIN,
            },
            retention: Duration::from_secs(24 * 3600),
            encryption: StreamEncryption::Managed,
            removal_policy: Policy::Retain,
        }
    }
}

/// What a stream can take in per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCapacity {
    pub records_per_second: u64,
    pub bytes_per_second: u64,
}

/// What one provisioned shard takes: 1,000 records/s or 1 MiB/s.
pub const SHARD_WRITE_RECORDS_PER_SECOND: u64 = 1_000;
pub const SHARD_WRITE_BYTES_PER_SECOND: u64 = 1024 * 1024;
/// What a new on-demand stream takes before it has scaled: 4,000 records/s or 4 MiB/s.
pub const ON_DEMAND_INITIAL_RECORDS_PER_SECOND: u64 = 4_000;

/// A data-plane call on a stream that a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamAction {
    DescribeStream,
    DescribeStreamSummary,
    GetRecords,
    GetShardIterator,
    ListShards,
    PutRecord,
    PutRecords,
    SubscribeToShard,
}

impl StreamAction {
    /// What a polling consumer calls.
    pub const READ: &[StreamAction] = &[
        StreamAction::DescribeStream,
        StreamAction::DescribeStreamSummary,
        StreamAction::GetRecords,
        StreamAction::GetShardIterator,
        StreamAction::ListShards,
    ];
    /// What a producer may call (CDK's `grantWrite`).
    pub const WRITE: &[StreamAction] = &[
        StreamAction::DescribeStreamSummary,
        StreamAction::ListShards,
        StreamAction::PutRecord,
        StreamAction::PutRecords,
    ];

    /// The IAM action.
    pub fn action(self) -> Action {
        let name = match self {
            StreamAction::DescribeStream => "DescribeStream",
            StreamAction::DescribeStreamSummary => "DescribeStreamSummary",
            StreamAction::GetRecords => "GetRecords",
            StreamAction::GetShardIterator => "GetShardIterator",
            StreamAction::ListShards => "ListShards",
            StreamAction::PutRecord => "PutRecord",
            StreamAction::PutRecords => "PutRecords",
            StreamAction::SubscribeToShard => "SubscribeToShard",
        };
        Action::new("kinesis", name)
    }
}

#[derive(Debug, Clone)]
pub struct Stream {
    resource: ResourceRef,
    mode: StreamMode,
}

impl Stream {
    pub fn new(scope: &Scope, id: &str, props: StreamProps) -> Stream {
        let scope = scope.child(id);
        let hours = props.retention.as_secs() / 3600;
        if !props.retention.as_secs().is_multiple_of(3600) || !(24..=8760).contains(&hours) {
            scope.report(Problem::StreamRetentionOutOfRange { hours });
        }
        let (mode, shard_count) = match props.mode {
            StreamMode::Provisioned { shards } => {
                ("PROVISIONED", Some(i64::from(shards.get()).into()))
            }
            StreamMode::OnDemand => ("ON_DEMAND", None),
        };
        let encryption = match props.encryption {
            StreamEncryption::Managed => {
                kinesis::stream::StreamEncryption::new("KMS", "alias/aws/kinesis")
            }
        };
        let stream = kinesis::Stream {
            name: props.stream_name.map(Into::into),
            shard_count,
            stream_mode_details: Some(kinesis::stream::StreamModeDetails::new(mode).into()),
            retention_period_hours: Some((hours as i64).into()),
            stream_encryption: Some(encryption.into()),
            ..kinesis::Stream::default()
        };
        Stream {
            resource: scope
                .add_resource(Resource::new(&stream).with_removal_policy(props.removal_policy)),
            mode: props.mode,
        }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The stream name (`Ref`).
    pub fn name(&self) -> Expr {
        self.resource.r#ref()
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// What the stream takes in per second, by the Kinesis service limits.
    pub fn write_capacity(&self) -> WriteCapacity {
        match self.mode {
            StreamMode::Provisioned { shards } => WriteCapacity {
                records_per_second: u64::from(shards.get()) * SHARD_WRITE_RECORDS_PER_SECOND,
                bytes_per_second: u64::from(shards.get()) * SHARD_WRITE_BYTES_PER_SECOND,
            },
            StreamMode::OnDemand => WriteCapacity {
                records_per_second: ON_DEMAND_INITIAL_RECORDS_PER_SECOND,
                bytes_per_second: 4 * SHARD_WRITE_BYTES_PER_SECOND,
            },
        }
    }

    pub fn mode(&self) -> StreamMode {
        self.mode
    }

    /// Lets the grantee read the stream as a polling consumer (an event source mapping,
    /// Firehose): shards listed, iterators taken, records read. No `SubscribeToShard`: that is
    /// for enhanced fan-out consumers, which this construct does not make.
    pub fn grant_read(&self, grantee: &dyn Grantee) {
        self.grant(grantee, StreamAction::READ);
    }

    /// Lets the grantee put records, one at a time or in batches, and find the stream's shards.
    pub fn grant_write(&self, grantee: &dyn Grantee) {
        self.grant(grantee, StreamAction::WRITE);
    }

    /// Lets the grantee make exactly these calls on this stream: for a function whose code
    /// makes only some of the calls [`Stream::grant_write`] allows.
    pub fn grant(&self, grantee: &dyn Grantee, actions: &[StreamAction]) {
        grantee.grant(
            actions.iter().map(|a| a.action()).collect(),
            vec![self.arn().json()],
        );
    }

    /// A metric of this stream in `AWS/Kinesis`.
    pub fn metric(&self, name: &str, statistic: Statistic, period: Duration) -> Metric {
        Metric::new("AWS/Kinesis", name, statistic, period).dimension("StreamName", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stack;

    #[test]
    fn defaults_are_encrypted_and_provisioned() {
        let s = stack();
        let stream = Stream::new(&s, "Events", StreamProps::default());
        let t = s.synth().expect("valid");
        let props = &t.resources["Events"].properties;
        assert_eq!(
            props["StreamEncryption"],
            serde_json::json!({"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"})
        );
        assert_eq!(props["RetentionPeriodHours"], 24);
        assert_eq!(props["ShardCount"], 1);
        assert_eq!(
            stream.write_capacity(),
            WriteCapacity {
                records_per_second: 1000,
                bytes_per_second: 1 << 20
            }
        );
    }

    #[test]
    fn a_stream_is_retained_unless_told_otherwise() {
        let s = stack();
        Stream::new(&s, "Kept", StreamProps::default());
        Stream::new(
            &s,
            "Scratch",
            StreamProps {
                removal_policy: Policy::Delete,
                ..Default::default()
            },
        );
        let t = s.synth().expect("valid");
        assert_eq!(t.resources["Kept"].deletion_policy, Some(Policy::Retain));
        assert_eq!(
            t.resources["Kept"].update_replace_policy,
            Some(Policy::Retain)
        );
        assert_eq!(t.resources["Scratch"].deletion_policy, Some(Policy::Delete));
    }

    #[test]
    fn capacity_scales_with_shards() {
        let s = stack();
        let shards = NonZeroU32::new(2).expect("nonzero");
        let stream = Stream::new(
            &s,
            "Events",
            StreamProps {
                mode: StreamMode::Provisioned { shards },
                ..Default::default()
            },
        );
        assert_eq!(stream.write_capacity().records_per_second, 2_000);
    }

    #[test]
    fn retention_out_of_range_is_a_problem() {
        let s = stack();
        Stream::new(
            &s,
            "Short",
            StreamProps {
                retention: Duration::from_secs(3600),
                ..Default::default()
            },
        );
        Stream::new(
            &s,
            "Long",
            StreamProps {
                retention: Duration::from_secs(9000 * 3600),
                ..Default::default()
            },
        );
        let errors = s.synth().expect_err("out of range").0;
        assert!(
            matches!(
                errors[0].problem,
                Problem::StreamRetentionOutOfRange { hours: 1 }
            ),
            "{errors:#?}"
        );
        assert_eq!(errors[0].path, "Test/Short");
        assert!(
            matches!(
                errors[1].problem,
                Problem::StreamRetentionOutOfRange { hours: 9000 }
            ),
            "{errors:#?}"
        );
    }
}
