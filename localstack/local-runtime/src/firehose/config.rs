//! The delivery stream's settings: the properties of its `AWS::KinesisFirehose::DeliveryStream`
//! (a `KinesisStreamAsSource` stream to an `ExtendedS3DestinationConfiguration`), and their
//! validation by Firehose's rules.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::prefix::{DEFAULT_TIME_PREFIX, Prefix, PrefixError};
use crate::stream::StreamArn;

/// A delivery stream from a Kinesis stream to S3, as the template gives it. Build it with
/// [`DeliveryStreamConfig::new`] and set what the template says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStreamConfig {
    /// `DeliveryStreamName`: the start of every object name.
    pub name: String,
    /// `KinesisStreamSourceConfiguration.KinesisStreamARN`.
    pub source_stream_arn: String,
    /// `ExtendedS3DestinationConfiguration.BucketARN`, `arn:aws:s3:::<bucket>`.
    pub bucket_arn: String,
    /// `Prefix`. Default: none, i.e. `yyyy/MM/dd/HH/`.
    pub prefix: Option<String>,
    /// `ErrorOutputPrefix`.
    pub error_output_prefix: Option<String>,
    /// `BufferingHints.SizeInMBs`, 1 to 128. Default 5.
    pub buffering_size_mb: u32,
    /// `BufferingHints.IntervalInSeconds`, 0 to 900. Default 300.
    pub buffering_interval_seconds: u32,
    /// `CompressionFormat`. Default `UNCOMPRESSED`.
    pub compression_format: CompressionFormat,
    /// `ProcessingConfiguration` with an enabled `AppendDelimiterToRecord` processor: what
    /// follows every record (its `Delimiter` parameter, `\n` when it has none). Default: none,
    /// records back to back.
    pub record_delimiter: Option<Vec<u8>>,
}

impl DeliveryStreamConfig {
    /// Delivery stream `name` from stream `source_stream_arn` to bucket `bucket_arn`, with
    /// Firehose's defaults for the rest.
    pub fn new(
        name: impl Into<String>,
        source_stream_arn: impl Into<String>,
        bucket_arn: impl Into<String>,
    ) -> Self {
        DeliveryStreamConfig {
            name: name.into(),
            source_stream_arn: source_stream_arn.into(),
            bucket_arn: bucket_arn.into(),
            prefix: None,
            error_output_prefix: None,
            buffering_size_mb: 5,
            buffering_interval_seconds: 300,
            compression_format: CompressionFormat::Uncompressed,
            record_delimiter: None,
        }
    }

    /// What the delivery stream runs with, or every problem of this configuration.
    pub(super) fn validate(&self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let source = self
            .source_stream_arn
            .parse::<StreamArn>()
            .map_err(|_| problems.push(Problem::SourceStreamArn(self.source_stream_arn.clone())))
            .ok();
        let bucket = self
            .bucket_arn
            .strip_prefix("arn:aws:s3:::")
            .filter(|b| !b.is_empty() && !b.contains('/'))
            .map(str::to_owned);
        if bucket.is_none() {
            problems.push(Problem::BucketArn(self.bucket_arn.clone()));
        }
        if !(1..=128).contains(&self.buffering_size_mb) {
            problems.push(Problem::BufferingSize(self.buffering_size_mb));
        }
        if self.buffering_interval_seconds > 900 {
            problems.push(Problem::BufferingInterval(self.buffering_interval_seconds));
        }
        let (prefix, error_prefix) = self.prefixes(&mut problems);
        match (source, bucket, prefix, error_prefix) {
            (Some(source), Some(bucket), Some(prefix), Some(error_prefix))
                if problems.is_empty() =>
            {
                Ok(Settings {
                    name: self.name.clone(),
                    source,
                    bucket,
                    prefix,
                    error_prefix,
                    size_bytes: usize::try_from(self.buffering_size_mb).unwrap_or(128)
                        * 1024
                        * 1024,
                    interval: Duration::from_secs(u64::from(self.buffering_interval_seconds)),
                    gzip: self.compression_format == CompressionFormat::Gzip,
                    delimiter: self.record_delimiter.clone().unwrap_or_default(),
                })
            }
            _ => Err(ConfigError {
                name: self.name.clone(),
                problems,
            }),
        }
    }

    /// The prefixes by Firehose's semantic rules: a `Prefix` without a timestamp gets
    /// `yyyy/MM/dd/HH/` appended; `ErrorOutputPrefix` must hold `!{firehose:error-output-type}`
    /// when it has expressions, and may be left out only when `Prefix` has none (it is then
    /// `<Prefix><error-output-type>/yyyy/MM/dd/HH/`); `Prefix` cannot hold the error type.
    fn prefixes(&self, problems: &mut Vec<Problem>) -> (Option<Prefix>, Option<Prefix>) {
        let mut parse = |text: &str| {
            Prefix::parse(text)
                .map_err(|e| problems.push(Problem::Prefix(e)))
                .ok()
        };
        let given = parse(self.prefix.as_deref().unwrap_or_default());
        let given_error = self.error_output_prefix.as_deref().map(&mut parse);
        let time = Prefix::parse(DEFAULT_TIME_PREFIX).ok();
        let (Some(given), Some(time)) = (given, time) else {
            return (None, None);
        };
        if given.has_error_output_type() {
            problems.push(Problem::ErrorTypeInPrefix);
        }
        let error_prefix = match given_error {
            Some(Some(error)) => {
                if error.has_expressions() && !error.has_error_output_type() {
                    problems.push(Problem::ErrorPrefixWithoutErrorType);
                }
                Some(error)
            }
            Some(None) => None,
            None if given.has_expressions() => {
                problems.push(Problem::ErrorPrefixMissing);
                None
            }
            None => Prefix::parse("!{firehose:error-output-type}/")
                .ok()
                .map(|error_type| given.clone().then(error_type).then(time.clone())),
        };
        let prefix = if given.has_timestamp() {
            given
        } else {
            given.then(time)
        };
        (Some(prefix), error_prefix)
    }
}

/// `CompressionFormat`; `ZIP`, `Snappy` and `HADOOP_SNAPPY` are not written locally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompressionFormat {
    /// `UNCOMPRESSED`.
    #[default]
    Uncompressed,
    /// `GZIP`: the object is gzipped, its name ends in `.gz`.
    Gzip,
}

/// A `CompressionFormat` this runtime does not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compression format {0:?} is not supported locally (UNCOMPRESSED or GZIP)")]
pub struct UnsupportedCompression(pub String);

impl FromStr for CompressionFormat {
    type Err = UnsupportedCompression;

    fn from_str(format: &str) -> Result<Self, Self::Err> {
        match format {
            "UNCOMPRESSED" => Ok(CompressionFormat::Uncompressed),
            "GZIP" => Ok(CompressionFormat::Gzip),
            other => Err(UnsupportedCompression(other.to_owned())),
        }
    }
}

/// What the delivery stream runs with: [`DeliveryStreamConfig`], checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) name: String,
    pub(super) source: StreamArn,
    pub(super) bucket: String,
    pub(super) prefix: Prefix,
    pub(super) error_prefix: Prefix,
    pub(super) size_bytes: usize,
    pub(super) interval: Duration,
    pub(super) gzip: bool,
    /// Written after every record; empty for none.
    pub(super) delimiter: Vec<u8>,
}

/// A delivery stream that cannot run, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "delivery stream {name} is invalid: {}",
    crate::join_problems(problems)
)]
pub struct ConfigError {
    /// The delivery stream.
    pub name: String,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// One property of [`DeliveryStreamConfig`] Firehose (or this runtime) does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The source is not a Kinesis stream ARN.
    SourceStreamArn(String),
    /// The bucket ARN is not `arn:aws:s3:::<bucket>`.
    BucketArn(String),
    /// `SizeInMBs` is not within 1..=128.
    BufferingSize(u32),
    /// `IntervalInSeconds` is not within 0..=900.
    BufferingInterval(u32),
    /// A prefix does not parse.
    Prefix(PrefixError),
    /// `Prefix` holds `!{firehose:error-output-type}`.
    ErrorTypeInPrefix,
    /// `ErrorOutputPrefix` has expressions but not `!{firehose:error-output-type}`.
    ErrorPrefixWithoutErrorType,
    /// `Prefix` has expressions and `ErrorOutputPrefix` is missing.
    ErrorPrefixMissing,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::SourceStreamArn(arn) => {
                write!(f, "source {arn:?} is not a Kinesis stream ARN")
            }
            Problem::BucketArn(arn) => write!(
                f,
                "bucket {arn:?} is not an S3 bucket ARN (arn:aws:s3:::<bucket>)"
            ),
            Problem::BufferingSize(n) => {
                write!(f, "buffering size is {n} MB, out of range 1..=128")
            }
            Problem::BufferingInterval(n) => {
                write!(f, "buffering interval is {n} s, out of range 0..=900")
            }
            Problem::Prefix(error) => write!(f, "{error}"),
            Problem::ErrorTypeInPrefix => {
                f.write_str("Prefix cannot hold !{firehose:error-output-type}")
            }
            Problem::ErrorPrefixWithoutErrorType => f.write_str(
                "ErrorOutputPrefix has expressions but no !{firehose:error-output-type}",
            ),
            Problem::ErrorPrefixMissing => {
                f.write_str("ErrorOutputPrefix can be left out only when Prefix has no expressions")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn config() -> DeliveryStreamConfig {
        DeliveryStreamConfig::new(
            "archive",
            "arn:aws:kinesis:us-east-2:123456789012:stream/events",
            "arn:aws:s3:::archive-bucket",
        )
    }

    fn evaluated(config: &DeliveryStreamConfig) -> (String, String) {
        let settings = config.validate().expect("valid");
        let at = DateTime::parse_from_rfc3339("2018-08-27T10:30:00Z")
            .expect("an instant")
            .to_utc();
        (
            settings.prefix.evaluate(at, "processing-failed"),
            settings.error_prefix.evaluate(at, "processing-failed"),
        )
    }

    #[test]
    fn the_templates_delivery_stream_validates() {
        let settings = DeliveryStreamConfig {
            prefix: Some("events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/".to_owned()),
            error_output_prefix: Some("errors/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/!{firehose:error-output-type}/".to_owned()),
            compression_format: "GZIP".parse().expect("a format"),
            ..config()
        }
        .validate()
        .expect("valid");
        assert_eq!(settings.bucket, "archive-bucket");
        assert_eq!(settings.size_bytes, 5 * 1024 * 1024);
        assert_eq!(settings.interval, Duration::from_secs(300));
        assert!(settings.gzip);
    }

    #[test]
    fn without_a_timestamp_the_hourly_prefix_is_appended() {
        assert_eq!(
            evaluated(&config()),
            (
                "2018/08/27/10/".to_owned(),
                "processing-failed/2018/08/27/10/".to_owned()
            )
        );
        let plain = DeliveryStreamConfig {
            prefix: Some("myFirehosePrefix/".to_owned()),
            ..config()
        };
        assert_eq!(
            evaluated(&plain),
            (
                "myFirehosePrefix/2018/08/27/10/".to_owned(),
                "myFirehosePrefix/processing-failed/2018/08/27/10/".to_owned()
            )
        );
    }

    #[test]
    fn firehoses_prefix_rules_are_enforced_all_at_once() {
        let error = DeliveryStreamConfig {
            source_stream_arn: "events".to_owned(),
            bucket_arn: "archive-bucket".to_owned(),
            buffering_size_mb: 0,
            buffering_interval_seconds: 901,
            prefix: Some("!{firehose:error-output-type}/!{timestamp:yyyy}/".to_owned()),
            error_output_prefix: Some("errors/!{timestamp:yyyy}/".to_owned()),
            ..config()
        }
        .validate()
        .expect_err("invalid");
        assert_eq!(
            error.problems,
            [
                Problem::SourceStreamArn("events".to_owned()),
                Problem::BucketArn("archive-bucket".to_owned()),
                Problem::BufferingSize(0),
                Problem::BufferingInterval(901),
                Problem::ErrorTypeInPrefix,
                Problem::ErrorPrefixWithoutErrorType,
            ]
        );
        let missing = DeliveryStreamConfig {
            prefix: Some("!{timestamp:yyyy}/".to_owned()),
            ..config()
        }
        .validate()
        .expect_err("invalid");
        assert_eq!(missing.problems, [Problem::ErrorPrefixMissing]);
    }

    #[test]
    fn only_uncompressed_and_gzip_are_written() {
        assert_eq!("UNCOMPRESSED".parse(), Ok(CompressionFormat::Uncompressed));
        assert_eq!(
            "Snappy".parse::<CompressionFormat>(),
            Err(UnsupportedCompression("Snappy".to_owned()))
        );
    }
}
