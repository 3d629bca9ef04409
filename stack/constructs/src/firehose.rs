//! Kinesis Data Firehose: delivery from a Kinesis stream to S3, with buffering, compression,
//! partitioned prefixes and error logging.

use std::time::Duration;

use cfn::resources::{kinesisfirehose as firehose, logs};
use cfn::{Expr, Resource};
use serde_json::json;

use crate::core::{ResourceRef, Scope};
use crate::iam::{Principal, Role, RoleProps};
use crate::kinesis::Stream;
use crate::logs::{LogGroup, LogGroupProps, RetentionDays};
use crate::problem::{Problem, check_range};
use crate::s3::Bucket;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    Uncompressed,
    #[default]
    Gzip,
    Snappy,
    Zip,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::Uncompressed => "UNCOMPRESSED",
            Compression::Gzip => "GZIP",
            Compression::Snappy => "Snappy",
            Compression::Zip => "ZIP",
        }
    }
}

#[derive(Debug, Clone)]
pub struct S3Destination {
    pub bucket: Bucket,
    /// Object key prefix; may use `!{timestamp:yyyy}`-style expressions.
    pub prefix: String,
    /// Prefix for records Firehose could not deliver; needs `!{firehose:error-output-type}`
    /// whenever `prefix` has expressions.
    pub error_output_prefix: String,
    /// 1 to 128 MiB. Default: 5.
    pub buffer_size_mib: u32,
    /// 0 to 900 s. Default: 300 s.
    pub buffer_interval: Duration,
    pub compression: Compression,
    /// Follow every record with a newline (Firehose's `AppendDelimiterToRecord` processor), so
    /// an object of JSON records is JSON Lines, as Athena and most readers want. Without it
    /// records are written back to back.
    pub newline_delimited: bool,
}

#[derive(Debug, Clone)]
pub struct DeliveryStreamProps {
    pub delivery_stream_name: Option<String>,
    /// The Kinesis stream Firehose reads from.
    pub source: Stream,
    pub destination: S3Destination,
    /// Retention of the log group delivery errors go to. Default: one month.
    pub error_log_retention: RetentionDays,
}

/// A delivery stream with its own role (read the source, write the bucket, log errors) and an
/// error log group.
#[derive(Debug, Clone)]
pub struct DeliveryStream {
    resource: ResourceRef,
}

/// Checks the `!{namespace:value}` expressions of an S3 prefix.
fn check_prefix(scope: &Scope, prefix: &str, is_error_prefix: bool) -> bool {
    let bad = |reason: String| {
        scope.report(Problem::BadS3Prefix {
            prefix: prefix.to_owned(),
            reason,
        })
    };
    let mut has_expressions = false;
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        has_expressions = true;
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bad("an expression `!{` is not closed".into());
            break;
        };
        let expression = &after[..end];
        match expression.split_once(':') {
            Some(("timestamp", pattern)) if !pattern.is_empty() => {}
            Some(("firehose", "random-string")) => {}
            Some(("firehose", "error-output-type")) if is_error_prefix => {}
            Some(("firehose", "error-output-type")) => bad(
                "`!{firehose:error-output-type}` is only allowed in the error output prefix".into(),
            ),
            _ => bad(format!(
                "unknown expression `!{{{expression}}}`; expected timestamp:<pattern>, firehose:random-string or firehose:error-output-type"
            )),
        }
        rest = &after[end + 1..];
    }
    if !prefix.is_empty() && !prefix.ends_with('/') {
        bad("a prefix should end with `/`, or object keys run into it".into());
    }
    has_expressions
}

impl DeliveryStream {
    pub fn new(scope: &Scope, id: &str, props: DeliveryStreamProps) -> DeliveryStream {
        let scope = scope.child(id);
        let dest = &props.destination;
        check_range(
            &scope,
            "buffer size (MiB)",
            i64::from(dest.buffer_size_mib),
            1,
            128,
        );
        check_range(
            &scope,
            "buffer interval (s)",
            dest.buffer_interval.as_secs() as i64,
            0,
            900,
        );
        let prefix_has_expressions = check_prefix(&scope, &dest.prefix, false);
        check_prefix(&scope, &dest.error_output_prefix, true);
        if prefix_has_expressions
            && !dest
                .error_output_prefix
                .contains("!{firehose:error-output-type}")
        {
            scope.report(Problem::BadS3Prefix {
                prefix: dest.error_output_prefix.clone(),
                reason: "the prefix has expressions, so the error output prefix must contain `!{firehose:error-output-type}`".into(),
            });
        }

        let role = Role::new(
            &scope,
            "ServiceRole",
            RoleProps {
                assumed_by: Principal::service("firehose.amazonaws.com"),
                assume_condition: Some(
                    json!({ "StringEquals": { "sts:ExternalId": Expr::r#ref("AWS::AccountId").json() } }),
                ),
                description: None,
            },
        );
        props.source.grant_read(&role);
        dest.bucket.grant_write(&role);
        let log_group = LogGroup::new(
            &scope,
            "LogGroup",
            LogGroupProps {
                retention: props.error_log_retention,
                ..Default::default()
            },
        );
        let log_stream = logs::LogStream {
            log_stream_name: Some("DestinationDelivery".into()),
            ..logs::LogStream::new(log_group.name().value())
        };
        let log_stream = scope
            .child("LogStream")
            .add_resource(Resource::new(&log_stream));
        log_group.grant_write(&role);

        let s3 = firehose::delivery_stream::ExtendedS3DestinationConfiguration {
            prefix: Some(dest.prefix.as_str().into()),
            error_output_prefix: Some(dest.error_output_prefix.as_str().into()),
            buffering_hints: Some(
                firehose::delivery_stream::BufferingHints {
                    size_in_m_bs: Some(i64::from(dest.buffer_size_mib).into()),
                    interval_in_seconds: Some((dest.buffer_interval.as_secs() as i64).into()),
                }
                .into(),
            ),
            compression_format: Some(dest.compression.name().into()),
            processing_configuration: dest.newline_delimited.then(|| {
                let append = firehose::delivery_stream::Processor::new("AppendDelimiterToRecord");
                firehose::delivery_stream::ProcessingConfiguration {
                    enabled: Some(true.into()),
                    processors: Some(vec![append].into()),
                }
                .into()
            }),
            cloud_watch_logging_options: Some(
                firehose::delivery_stream::CloudWatchLoggingOptions {
                    enabled: Some(true.into()),
                    log_group_name: Some(log_group.name().value()),
                    log_stream_name: Some(log_stream.r#ref().value()),
                }
                .into(),
            ),
            ..firehose::delivery_stream::ExtendedS3DestinationConfiguration::new(
                dest.bucket.arn().value(),
                role.arn().value(),
            )
        };
        let stream = firehose::DeliveryStream {
            delivery_stream_name: props.delivery_stream_name.map(Into::into),
            delivery_stream_type: Some("KinesisStreamAsSource".into()),
            kinesis_stream_source_configuration: Some(
                firehose::delivery_stream::KinesisStreamSourceConfiguration::new(
                    props.source.arn().value(),
                    role.arn().value(),
                )
                .into(),
            ),
            extended_s3_destination_configuration: Some(s3.into()),
            ..firehose::DeliveryStream::default()
        };
        let resource = scope.add_resource(Resource::new(&stream));
        role.add_policy_dependent(&resource);
        DeliveryStream { resource }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// The delivery stream name (`Ref`).
    pub fn name(&self) -> Expr {
        self.resource.r#ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::StreamProps;
    use crate::s3::BucketProps;
    use crate::test_support::stack;

    fn props(s: &Scope, prefix: &str, error_output_prefix: &str) -> DeliveryStreamProps {
        DeliveryStreamProps {
            delivery_stream_name: None,
            source: Stream::new(s, "Events", StreamProps::default()),
            destination: S3Destination {
                bucket: Bucket::new(s, "Archive", BucketProps::default()),
                prefix: prefix.into(),
                error_output_prefix: error_output_prefix.into(),
                buffer_size_mib: 5,
                buffer_interval: Duration::from_secs(300),
                compression: Compression::Gzip,
                newline_delimited: true,
            },
            error_log_retention: RetentionDays::OneMonth,
        }
    }

    #[test]
    fn delivery_reads_the_stream_writes_the_bucket_and_waits_for_its_role() {
        let s = stack();
        let p = props(
            &s,
            "events/year=!{timestamp:yyyy}/",
            "errors/!{firehose:error-output-type}/",
        );
        DeliveryStream::new(&s, "Archiver", p);
        let t = s.synth().expect("valid");
        let ds = &t.resources["Archiver"];
        assert_eq!(ds.properties["DeliveryStreamType"], "KinesisStreamAsSource");
        assert_eq!(
            ds.properties["ExtendedS3DestinationConfiguration"]["CompressionFormat"],
            "GZIP"
        );
        assert_eq!(
            ds.properties["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"],
            serde_json::json!({"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]}),
            "records are newline-delimited"
        );
        assert!(ds.depends_on.contains("ArchiverServiceRoleDefaultPolicy"));
        let policy = t.resources["ArchiverServiceRoleDefaultPolicy"].properties["PolicyDocument"]
            .to_string();
        assert!(
            policy.contains("kinesis:GetRecords")
                && policy.contains("s3:PutObject")
                && policy.contains("logs:PutLogEvents"),
            "{policy}"
        );
    }

    #[test]
    fn prefixes_are_checked() {
        let s = stack();
        let p = props(&s, "events/!{timestamp:yyyy}/!{nope}/", "errors/");
        DeliveryStream::new(&s, "Archiver", p);
        let errors = s.synth().expect_err("bad prefixes").0;
        let reasons: Vec<_> = errors
            .iter()
            .map(|e| match &e.problem {
                Problem::BadS3Prefix { reason, .. } => reason.as_str(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:#?}");
        assert!(reasons[0].contains("unknown expression `!{nope}`"));
        assert!(reasons[1].contains("must contain `!{firehose:error-output-type}`"));
    }
}
