//! A Firehose delivery stream from a Kinesis stream to S3, run locally (moto's Firehose never
//! reads a Kinesis source, and writes direct puts unbuffered).
//!
//! As Firehose does: it reads every shard from `LATEST`; buffers the records of all shards
//! together, concatenated as they are (Firehose adds no delimiter between records); writes an
//! object when the buffer reaches `SizeInMBs` or `IntervalInSeconds` after its first record;
//! gzips it when `CompressionFormat` is `GZIP`; names it
//! `<prefix><name>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid>[.gz]` with the prefix's
//! expressions evaluated at the approximate arrival time of the oldest record in the object, in
//! UTC. The interval can be shortened for tests ([`Timing::buffer_interval`]).
//!
//! Not implemented: data transformation (processors), format conversion, dynamic partitioning,
//! custom time zones and file extensions, ZIP/Snappy compression, encryption settings, the
//! source's starting position (Firehose has none to set), resharding.

mod buffer;
mod config;
mod delivery;
mod prefix;

pub use config::{
    CompressionFormat, ConfigError, DeliveryStreamConfig, Problem, UnsupportedCompression,
};
pub use delivery::{DeliveryStream, STOP_GRACE, StartError, Timing, VERSION};
pub use prefix::{DEFAULT_TIME_PREFIX, PrefixError};
