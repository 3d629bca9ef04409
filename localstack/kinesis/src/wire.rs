//! The requests, as the Kinesis JSON 1.1 protocol carries them; blobs are base64, timestamps
//! seconds since the epoch.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A stream named by its name or its ARN (both allowed; then they must agree).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamRef {
    pub stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamModeDetails {
    pub stream_mode: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateStream {
    pub stream_name: String,
    pub shard_count: Option<i64>,
    pub stream_mode_details: Option<StreamModeDetails>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub max_record_size_in_kib: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeStream {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub limit: Option<i64>,
    pub exclusive_start_shard_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListStreams {
    pub limit: Option<i64>,
    pub exclusive_start_stream_name: Option<String>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShardFilter {
    pub r#type: String,
    pub shard_id: Option<String>,
    pub timestamp: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShards {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub next_token: Option<String>,
    pub exclusive_start_shard_id: Option<String>,
    pub max_results: Option<i64>,
    pub shard_filter: Option<ShardFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsEntry {
    pub data: String,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecord {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub data: String,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub sequence_number_for_ordering: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecords {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub records: Vec<PutRecordsEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIterator {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub shard_id: String,
    pub shard_iterator_type: String,
    pub starting_sequence_number: Option<String>,
    pub timestamp: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecords {
    pub shard_iterator: String,
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateShardCount {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub target_shard_count: i64,
    pub scaling_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SplitShard {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub shard_to_split: String,
    pub new_starting_hash_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MergeShards {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub shard_to_merge: String,
    pub adjacent_shard_to_merge: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RetentionPeriod {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub retention_period_hours: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamEncryption {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub encryption_type: String,
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddTags {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RemoveTags {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub tag_keys: Vec<String>,
}
