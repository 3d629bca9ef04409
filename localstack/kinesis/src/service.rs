//! The operations: each takes the request's JSON and answers JSON or an [`ApiError`], as the
//! Kinesis API reference describes them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::backing::Backing;
use crate::clock::{Clock, epoch_millis, epoch_seconds, from_epoch_seconds};
use crate::error::{ApiError, ErrorCode};
use crate::hash::{hash_key_of, parse_hash_key, uniform};
use crate::iterator::ShardIterator;
use crate::limits::{MIB, ShardLimits};
use crate::metrics::{Recorder, Unit, names};
use crate::sequence::{SequenceNumber, is_well_formed};
use crate::stream::{
    DEFAULT_MAX_RECORD_KIB, Identity, ON_DEMAND_SHARDS, Settings, Shard, Stream, StreamMode,
    StreamState, shard_id,
};
use crate::wire;

/// The records a `PutRecords` call takes at most.
pub const MAX_PUT_RECORDS: usize = 500;
/// The bytes (data and partition keys) a `PutRecords` call takes at most.
pub const MAX_PUT_RECORDS_BYTES: u64 = 5 * MIB;
/// The records a `GetRecords` call returns at most.
pub const MAX_GET_RECORDS: usize = 10_000;
/// The data a `GetRecords` call returns at most.
pub const MAX_GET_RECORDS_BYTES: u64 = 10 * MIB;
/// `UpdateShardCount` calls a stream may have in a rolling 24 hours.
pub const MAX_SCALINGS_PER_DAY: usize = 10;
/// The shards a stream may have.
pub const MAX_SHARDS: u32 = 10_000;

/// How the service runs.
#[derive(Debug)]
pub struct Options {
    /// The account in ARNs and messages. Default `123456789012`, moto's.
    pub account_id: String,
    /// The region of a request that names none. Default `us-east-2`.
    pub region: String,
    /// Every shard's limits. Default AWS's.
    pub limits: ShardLimits,
    /// An emulator whose streams are taken over on first use.
    pub backing: Option<Backing>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            account_id: "123456789012".to_owned(),
            region: "us-east-2".to_owned(),
            limits: ShardLimits::AWS,
            backing: None,
        }
    }
}

type StreamKey = (String, String);

/// Kinesis Data Streams, in memory.
#[derive(Debug)]
pub struct Kinesis {
    account_id: String,
    region: String,
    limits: ShardLimits,
    backing: Option<Backing>,
    clock: Clock,
    streams: RwLock<BTreeMap<StreamKey, Arc<Stream>>>,
    pub(crate) recorder: Recorder,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::Serialization,
            format!("the request body is not a valid request: {e}"),
        )
    })
}

/// A count parameter: its default when absent, else within `1..=max`; `cap` bounds what is used
/// (`ListShards` takes up to 10,000 and answers 1,000 at most).
fn count(
    value: Option<i64>,
    member: &str,
    default: usize,
    max: usize,
    cap: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => {
            Ok(usize::try_from(n).unwrap_or(default).min(cap))
        }
        Some(n) => Err(ApiError::validation(
            &n.to_string(),
            member,
            &format!("Member must have value between 1 and {max}"),
        )),
    }
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::validation(
            name,
            "streamName",
            "Member must have length between 1 and 128",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(ApiError::validation(
            name,
            "streamName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

fn decode_data(data: &str, member: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(data).map_err(|e| {
        ApiError::new(
            ErrorCode::Serialization,
            format!("{member} is not base64: {e}"),
        )
    })
}

/// A record to put, checked.
struct Entry {
    key: u128,
    partition_key: String,
    data: Vec<u8>,
}

impl Entry {
    fn check(
        data: &str,
        partition_key: String,
        explicit_hash_key: Option<&str>,
        member: &str,
        max_record_kib: u32,
    ) -> Result<Entry, ApiError> {
        let length = partition_key.chars().count();
        if !(1..=256).contains(&length) {
            return Err(ApiError::validation(
                &partition_key,
                &format!("{member}partitionKey"),
                "Member must have length between 1 and 256",
            ));
        }
        let data = decode_data(data, &format!("{member}data"))?;
        let max = u64::from(max_record_kib) * 1024;
        let size = (data.len() + partition_key.len()) as u64;
        if size > max {
            return Err(ApiError::validation(
                &format!("{size} bytes"),
                &format!("{member}data"),
                &format!(
                    "Member must have length less than or equal to {max} (the record, data and \
                     partition key, over the stream's maximum record size)"
                ),
            ));
        }
        let key = match explicit_hash_key {
            Some(text) => parse_hash_key(text).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid ExplicitHashKey {text:?}. ExplicitHashKey must be in the range \
                     [0, 2^128-1]."
                ))
            })?,
            None => hash_key_of(&partition_key),
        };
        Ok(Entry {
            key,
            partition_key,
            data,
        })
    }
}

fn shard_json(shard: &Shard, epoch: u64) -> Value {
    let data = shard.data();
    let mut range = json!({
        "StartingSequenceNumber": shard.sequence_number(epoch, 0).to_string(),
    });
    if let Some((_, last)) = data.closed {
        range["EndingSequenceNumber"] = json!(shard.sequence_number(epoch, last).to_string());
    }
    let mut out = json!({
        "ShardId": shard.id,
        "HashKeyRange": {
            "StartingHashKey": shard.range.start.to_string(),
            "EndingHashKey": shard.range.end.to_string(),
        },
        "SequenceNumberRange": range,
    });
    if let Some(parent) = &shard.parent {
        out["ParentShardId"] = json!(parent);
    }
    if let Some(adjacent) = &shard.adjacent_parent {
        out["AdjacentParentShardId"] = json!(adjacent);
    }
    out
}

fn encryption_json(out: &mut Value, settings: &Settings) {
    match &settings.encryption_key {
        Some(key) => {
            out["EncryptionType"] = json!("KMS");
            out["KeyId"] = json!(key);
        }
        None => out["EncryptionType"] = json!("NONE"),
    }
}

impl Kinesis {
    pub fn new(options: Options) -> Kinesis {
        Kinesis {
            account_id: options.account_id,
            region: options.region,
            limits: options.limits,
            backing: options.backing,
            clock: Clock::new(),
            streams: RwLock::new(BTreeMap::new()),
            recorder: Recorder::default(),
        }
    }

    /// The region of requests that name none.
    pub fn default_region(&self) -> &str {
        &self.region
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Answers `operation` (`PutRecords`, ...) with `body`, in `region`.
    pub async fn call(
        &self,
        region: &str,
        operation: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        match operation {
            "CreateStream" => self.create_stream(region, parse(body)?),
            "DeleteStream" => self.delete_stream(region, parse(body)?).await,
            "DescribeStream" => self.describe_stream(region, parse(body)?).await,
            "DescribeStreamSummary" => self.describe_stream_summary(region, parse(body)?).await,
            "ListStreams" => self.list_streams(region, parse(body)?).await,
            "ListShards" => self.list_shards(region, parse(body)?).await,
            "PutRecord" => self.put_record(region, parse(body)?).await,
            "PutRecords" => self.put_records(region, parse(body)?).await,
            "GetShardIterator" => self.get_shard_iterator(region, parse(body)?).await,
            "GetRecords" => self.get_records(region, parse(body)?).await,
            "UpdateShardCount" => self.update_shard_count(region, parse(body)?).await,
            "SplitShard" => self.split_shard(region, parse(body)?).await,
            "MergeShards" => self.merge_shards(region, parse(body)?).await,
            "IncreaseStreamRetentionPeriod" => self.retention(region, parse(body)?, true).await,
            "DecreaseStreamRetentionPeriod" => self.retention(region, parse(body)?, false).await,
            "StartStreamEncryption" => self.encryption(region, parse(body)?, true).await,
            "StopStreamEncryption" => self.encryption(region, parse(body)?, false).await,
            "AddTagsToStream" => self.add_tags(region, parse(body)?).await,
            "RemoveTagsFromStream" => self.remove_tags(region, parse(body)?).await,
            "ListTagsForStream" => self.list_tags(region, parse(body)?).await,
            "DescribeLimits" => Ok(self.describe_limits(region)),
            other => Err(ApiError::new(
                ErrorCode::UnknownOperation,
                format!(
                    "the local Kinesis does not serve {other}; it serves the stream, shard, \
                     record, resharding, retention, encryption and tag operations \
                     (localstack/kinesis/README.md)"
                ),
            )),
        }
    }

    fn key(region: &str, name: &str) -> StreamKey {
        (region.to_owned(), name.to_owned())
    }

    fn name_of(&self, region: &str, stream: &wire::StreamRef) -> Result<String, ApiError> {
        let from_arn = match &stream.stream_arn {
            Some(arn) => {
                let name = arn
                    .split_once(":stream/")
                    .map(|(_, name)| name)
                    .filter(|name| !name.is_empty() && arn.starts_with("arn:"))
                    .ok_or_else(|| {
                        ApiError::invalid(format!("{arn:?} is not a Kinesis stream ARN."))
                    })?;
                let arn_region = arn.split(':').nth(3).unwrap_or_default();
                if arn_region != region {
                    return Err(ApiError::invalid(format!(
                        "Stream ARN {arn} is in {arn_region}, but the request was sent to \
                         {region}."
                    )));
                }
                Some(name.to_owned())
            }
            None => None,
        };
        match (from_arn, &stream.stream_name) {
            (Some(a), Some(n)) if &a != n => Err(ApiError::invalid(format!(
                "StreamARN names stream {a} and StreamName names {n}."
            ))),
            (Some(a), _) => Ok(a),
            (None, Some(n)) => Ok(n.clone()),
            (None, None) => Err(ApiError::invalid(
                "Either StreamName or StreamARN should be provided.",
            )),
        }
    }

    /// The stream, taken over from the backing emulator if it has it and we do not.
    async fn stream(
        &self,
        region: &str,
        stream: &wire::StreamRef,
    ) -> Result<Arc<Stream>, ApiError> {
        let name = self.name_of(region, stream)?;
        self.stream_named(region, &name).await
    }

    async fn stream_named(&self, region: &str, name: &str) -> Result<Arc<Stream>, ApiError> {
        let key = Self::key(region, name);
        if let Some(found) = self.streams_read().get(&key) {
            return Ok(found.clone());
        }
        if let Some(backing) = &self.backing {
            let described = backing
                .describe(region, name)
                .await
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
            if let Some(d) = described {
                let stream = Stream::new(
                    Identity {
                        name: name.to_owned(),
                        region: region.to_owned(),
                        arn: d.arn,
                        created: d.created,
                    },
                    Settings {
                        mode: d.mode,
                        retention_hours: d.retention_hours,
                        encryption_key: d.encryption_key,
                        tags: BTreeMap::new(),
                        max_record_kib: DEFAULT_MAX_RECORD_KIB,
                    },
                    &d.ranges,
                    self.limits,
                    self.clock.instant(),
                );
                let mut streams = self.streams_write();
                let adopted = streams.entry(key).or_insert_with(|| {
                    info!(
                        stream = name,
                        region,
                        shards = d.ranges.len(),
                        backing = backing.endpoint(),
                        "stream taken over from the emulator"
                    );
                    Arc::new(stream)
                });
                return Ok(adopted.clone());
            }
        }
        Err(ApiError::not_found(name, &self.account_id))
    }

    fn streams_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<StreamKey, Arc<Stream>>> {
        self.streams.read().unwrap_or_else(|p| p.into_inner())
    }

    fn streams_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<StreamKey, Arc<Stream>>> {
        self.streams.write().unwrap_or_else(|p| p.into_inner())
    }

    fn create_stream(&self, region: &str, request: wire::CreateStream) -> Result<Value, ApiError> {
        validate_name(&request.stream_name)?;
        let mode = match &request.stream_mode_details {
            Some(d) => StreamMode::parse(&d.stream_mode).ok_or_else(|| {
                ApiError::validation(
                    &d.stream_mode,
                    "streamModeDetails.streamMode",
                    "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
                )
            })?,
            None => StreamMode::Provisioned,
        };
        let shards = match (mode, request.shard_count) {
            (StreamMode::OnDemand, _) => ON_DEMAND_SHARDS,
            (StreamMode::Provisioned, Some(n)) if (1..=i64::from(MAX_SHARDS)).contains(&n) => {
                u32::try_from(n).unwrap_or(1)
            }
            (StreamMode::Provisioned, Some(n)) => {
                return Err(ApiError::validation(
                    &n.to_string(),
                    "shardCount",
                    &format!("Member must have value between 1 and {MAX_SHARDS}"),
                ));
            }
            (StreamMode::Provisioned, None) => {
                return Err(ApiError::invalid(
                    "ShardCount is required for a stream in PROVISIONED mode.",
                ));
            }
        };
        let max_record_kib = match request.max_record_size_in_kib {
            None => DEFAULT_MAX_RECORD_KIB,
            Some(k) if (1024..=10_240).contains(&k) => u32::try_from(k).unwrap_or(1024),
            Some(k) => {
                return Err(ApiError::validation(
                    &k.to_string(),
                    "maxRecordSizeInKiB",
                    "Member must have value between 1024 and 10240",
                ));
            }
        };
        let key = Self::key(region, &request.stream_name);
        let mut streams = self.streams_write();
        if streams.contains_key(&key) {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!(
                    "Stream {} under account {} already exists.",
                    request.stream_name, self.account_id
                ),
            ));
        }
        let arn = format!(
            "arn:aws:kinesis:{region}:{}:stream/{}",
            self.account_id, request.stream_name
        );
        let now = self.clock.instant();
        let stream = Stream::new(
            Identity {
                name: request.stream_name.clone(),
                region: region.to_owned(),
                arn,
                created: self.clock.wall_at(now),
            },
            Settings {
                mode,
                retention_hours: 24,
                encryption_key: None,
                tags: request.tags,
                max_record_kib,
            },
            &uniform(shards),
            self.limits,
            now,
        );
        info!(stream = %request.stream_name, region, shards, mode = mode.as_str(), "stream created");
        streams.insert(key, Arc::new(stream));
        Ok(json!({}))
    }

    async fn delete_stream(
        &self,
        region: &str,
        request: wire::StreamRef,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request).await?;
        self.streams_write()
            .remove(&Self::key(region, &stream.name));
        info!(stream = %stream.name, region, "stream deleted");
        Ok(json!({}))
    }

    fn summary_json(&self, stream: &Stream, state: &StreamState) -> Value {
        let mut out = json!({
            "StreamName": stream.name,
            "StreamARN": stream.arn,
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": { "StreamMode": state.settings.mode.as_str() },
            "RetentionPeriodHours": state.settings.retention_hours,
            "StreamCreationTimestamp": epoch_seconds(stream.created),
            "EnhancedMonitoring": [{ "ShardLevelMetrics": [] }],
            "MaxRecordSizeInKiB": state.settings.max_record_kib,
        });
        encryption_json(&mut out, &state.settings);
        out
    }

    async fn describe_stream(
        &self,
        region: &str,
        request: wire::DescribeStream,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let limit = count(request.limit, "limit", 100, 10_000, 10_000)?;
        let state = stream.read();
        let after = request
            .exclusive_start_shard_id
            .as_deref()
            .and_then(crate::stream::shard_index);
        let candidates: Vec<&Arc<Shard>> = state
            .shards
            .iter()
            .filter(|s| after.is_none_or(|a| s.index > a))
            .collect();
        let shards: Vec<Value> = candidates
            .iter()
            .take(limit)
            .map(|s| shard_json(s, stream.epoch))
            .collect();
        let mut description = self.summary_json(&stream, &state);
        description["Shards"] = json!(shards);
        description["HasMoreShards"] = json!(candidates.len() > limit);
        Ok(json!({ "StreamDescription": description }))
    }

    async fn describe_stream_summary(
        &self,
        region: &str,
        request: wire::StreamRef,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request).await?;
        let state = stream.read();
        let mut summary = self.summary_json(&stream, &state);
        summary["OpenShardCount"] = json!(state.open_count());
        summary["ConsumerCount"] = json!(0);
        Ok(json!({ "StreamDescriptionSummary": summary }))
    }

    async fn list_streams(
        &self,
        region: &str,
        request: wire::ListStreams,
    ) -> Result<Value, ApiError> {
        if let Some(backing) = &self.backing {
            match backing.names(region).await {
                Ok(names) => {
                    for name in names {
                        // Takes over what the emulator has; a name that vanished meanwhile is
                        // simply not listed.
                        let _ = self.stream_named(region, &name).await;
                    }
                }
                Err(error) => warn!(%error, "cannot list the emulator's streams"),
            }
        }
        let limit = count(request.limit, "limit", 100, 10_000, 10_000)?;
        let after = request
            .next_token
            .as_deref()
            .and_then(|t| STANDARD.decode(t).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .or(request.exclusive_start_stream_name);
        let streams = self.streams_read();
        let in_region: Vec<&Arc<Stream>> = streams
            .iter()
            .filter(|((r, name), _)| r == region && after.as_ref().is_none_or(|a| name > a))
            .map(|(_, s)| s)
            .collect();
        let page: Vec<&Arc<Stream>> = in_region.iter().take(limit).copied().collect();
        let more = in_region.len() > limit;
        let mut out = json!({
            "StreamNames": page.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "HasMoreStreams": more,
            "StreamSummaries": page.iter().map(|s| {
                let state = s.read();
                json!({
                    "StreamName": s.name,
                    "StreamARN": s.arn,
                    "StreamStatus": "ACTIVE",
                    "StreamModeDetails": { "StreamMode": state.settings.mode.as_str() },
                    "StreamCreationTimestamp": epoch_seconds(s.created),
                })
            }).collect::<Vec<_>>(),
        });
        if more && let Some(last) = page.last() {
            out["NextToken"] = json!(STANDARD.encode(&last.name));
        }
        Ok(out)
    }

    async fn list_shards(
        &self,
        region: &str,
        request: wire::ListShards,
    ) -> Result<Value, ApiError> {
        // A NextToken carries the stream and where the page starts.
        let (stream_ref, offset) = match &request.next_token {
            Some(token) => {
                if request.stream.stream_name.is_some() || request.stream.stream_arn.is_some() {
                    return Err(ApiError::invalid(
                        "NextToken and StreamName cannot be provided together.",
                    ));
                }
                let text = STANDARD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| ApiError::invalid("Invalid NextToken."))?;
                let (name, offset) = text
                    .rsplit_once('|')
                    .and_then(|(n, o)| Some((n.to_owned(), o.parse::<usize>().ok()?)))
                    .ok_or_else(|| ApiError::invalid("Invalid NextToken."))?;
                (
                    wire::StreamRef {
                        stream_name: Some(name),
                        stream_arn: None,
                    },
                    offset,
                )
            }
            None => (request.stream, 0),
        };
        let stream = self.stream(region, &stream_ref).await?;
        let max = count(request.max_results, "maxResults", 1000, 10_000, 1000)?;
        let state = stream.read();
        let after = request
            .exclusive_start_shard_id
            .as_deref()
            .and_then(crate::stream::shard_index);
        let filter = request.shard_filter;
        let selected: Vec<&Arc<Shard>> = state
            .shards
            .iter()
            .filter(|s| after.is_none_or(|a| s.index > a))
            .filter(|s| match &filter {
                None => true,
                Some(f) => shard_matches(f, s, &state),
            })
            .collect();
        let page: Vec<Value> = selected
            .iter()
            .skip(offset)
            .take(max)
            .map(|s| shard_json(s, stream.epoch))
            .collect();
        let mut out = json!({ "Shards": page });
        if selected.len() > offset + max {
            out["NextToken"] = json!(STANDARD.encode(format!("{}|{}", stream.name, offset + max)));
        }
        Ok(out)
    }

    async fn put_record(&self, region: &str, request: wire::PutRecord) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        if let Some(ordering) = &request.sequence_number_for_ordering
            && !is_well_formed(ordering)
        {
            return Err(ApiError::invalid(format!(
                "SequenceNumberForOrdering {ordering:?} is not a sequence number."
            )));
        }
        let max_kib = stream.read().settings.max_record_kib;
        let entry = Entry::check(
            &request.data,
            request.partition_key,
            request.explicit_hash_key.as_deref(),
            "",
            max_kib,
        )?;
        let results = self.put(&stream, vec![entry]);
        match results.into_iter().next() {
            Some(Ok(put)) => {
                let mut out =
                    json!({ "ShardId": put.shard_id, "SequenceNumber": put.sequence_number });
                if put.encrypted {
                    out["EncryptionType"] = json!("KMS");
                }
                Ok(out)
            }
            Some(Err(error)) => Err(error),
            None => Err(ApiError::new(
                ErrorCode::Internal,
                "no result for the record",
            )),
        }
    }

    async fn put_records(
        &self,
        region: &str,
        request: wire::PutRecords,
    ) -> Result<Value, ApiError> {
        let count = request.records.len();
        if !(1..=MAX_PUT_RECORDS).contains(&count) {
            return Err(ApiError::validation(
                &format!("{count} records"),
                "records",
                &format!("Member must have length between 1 and {MAX_PUT_RECORDS}"),
            ));
        }
        let stream = self.stream(region, &request.stream).await?;
        let max_kib = stream.read().settings.max_record_kib;
        let mut entries = Vec::with_capacity(count);
        for (i, record) in request.records.into_iter().enumerate() {
            entries.push(Entry::check(
                &record.data,
                record.partition_key,
                record.explicit_hash_key.as_deref(),
                &format!("records.{}.member.", i + 1),
                max_kib,
            )?);
        }
        let total: u64 = entries
            .iter()
            .map(|e| (e.data.len() + e.partition_key.len()) as u64)
            .sum();
        if total > MAX_PUT_RECORDS_BYTES {
            return Err(ApiError::invalid(format!(
                "Records size exceeds 5 MB limit: {total} bytes of data and partition keys in \
                 one PutRecords call."
            )));
        }
        let mut failed = 0;
        let mut encrypted = false;
        let records: Vec<Value> = self
            .put(&stream, entries)
            .into_iter()
            .map(|result| match result {
                Ok(put) => {
                    encrypted |= put.encrypted;
                    json!({ "ShardId": put.shard_id, "SequenceNumber": put.sequence_number })
                }
                Err(error) => {
                    failed += 1;
                    json!({ "ErrorCode": error.code.as_str(), "ErrorMessage": error.message })
                }
            })
            .collect();
        let mut out = json!({ "FailedRecordCount": failed, "Records": records });
        if encrypted {
            out["EncryptionType"] = json!("KMS");
        }
        Ok(out)
    }

    /// Puts each entry on its shard, in order, within the shard's write limits.
    fn put(&self, stream: &Stream, entries: Vec<Entry>) -> Vec<Result<Put, ApiError>> {
        let state = stream.read();
        let now = self.clock.instant();
        let wall = self.clock.wall_at(now);
        let oldest = wall - Duration::from_secs(u64::from(state.settings.retention_hours) * 3600);
        let encrypted = state.settings.encryption_key.is_some();
        let (mut records, mut bytes, mut refused) = (0u64, 0u64, 0u64);
        let results = entries
            .into_iter()
            .map(|entry| {
                let shard = state.route(entry.key).ok_or_else(|| {
                    ApiError::new(ErrorCode::Internal, "no open shard holds the hash key")
                })?;
                let size = (entry.data.len() + entry.partition_key.len()) as u64;
                let mut data = shard.data();
                if !data.buckets.try_write(size, now) {
                    refused += 1;
                    return Err(ApiError::new(
                        ErrorCode::ProvisionedThroughputExceeded,
                        format!(
                            "Rate exceeded for shard {} in stream {} under account {}.",
                            shard.id, stream.name, self.account_id
                        ),
                    ));
                }
                data.trim(oldest);
                let position = data.next_position;
                data.next_position += 1;
                data.records.push_back(crate::stream::Stored {
                    position,
                    partition_key: entry.partition_key,
                    data: entry.data,
                    arrival: wall,
                });
                records += 1;
                bytes += size;
                Ok(Put {
                    shard_id: shard.id.clone(),
                    sequence_number: shard.sequence_number(stream.epoch, position).to_string(),
                    encrypted,
                })
            })
            .collect();
        let record = |metric, unit, value: u64| {
            self.recorder.record(
                wall,
                &stream.region,
                &stream.name,
                metric,
                unit,
                value as f64,
            );
        };
        record(names::INCOMING_RECORDS, Unit::Count, records);
        record(names::INCOMING_BYTES, Unit::Bytes, bytes);
        record(names::WRITE_EXCEEDED, Unit::Count, refused);
        results
    }

    async fn get_shard_iterator(
        &self,
        region: &str,
        request: wire::GetShardIterator,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let state = stream.read();
        let shard = state.shard(&request.shard_id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ResourceNotFound,
                format!(
                    "Shard {} in stream {} under account {} does not exist",
                    request.shard_id, stream.name, self.account_id
                ),
            )
        })?;
        let data = shard.data();
        let sequence = |name: &str| -> Result<u64, ApiError> {
            let text = request.starting_sequence_number.as_deref().ok_or_else(|| {
                ApiError::invalid(format!(
                    "StartingSequenceNumber is required for ShardIteratorType {name}."
                ))
            })?;
            let invalid = || {
                ApiError::invalid(format!(
                    "StartingSequenceNumber {text} used in GetShardIterator on shard {} in \
                     stream {} under account {} is invalid.",
                    shard.id, stream.name, self.account_id
                ))
            };
            if !is_well_formed(text) {
                return Err(invalid());
            }
            let number = SequenceNumber::parse(text).ok_or_else(invalid)?;
            if number.epoch != stream.epoch % 10_000_000_000 {
                return Err(invalid());
            }
            if number.shard != shard.index {
                return Err(ApiError::invalid(format!(
                    "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call \
                     to a shard with {}",
                    shard_id(number.shard),
                    shard.id
                )));
            }
            Ok(number.position)
        };
        let position = match request.shard_iterator_type.as_str() {
            "TRIM_HORIZON" => data.first_position(),
            "LATEST" => data.next_position,
            "AT_SEQUENCE_NUMBER" => sequence("AT_SEQUENCE_NUMBER")?.max(1),
            "AFTER_SEQUENCE_NUMBER" => sequence("AFTER_SEQUENCE_NUMBER")? + 1,
            "AT_TIMESTAMP" => {
                let at = request
                    .timestamp
                    .and_then(from_epoch_seconds)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "A valid Timestamp is required for ShardIteratorType AT_TIMESTAMP.",
                        )
                    })?;
                data.records
                    .iter()
                    .find(|r| r.arrival >= at)
                    .map_or(data.next_position, |r| r.position)
            }
            other => {
                return Err(ApiError::validation(
                    other,
                    "shardIteratorType",
                    "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, \
                     AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                ));
            }
        };
        let iterator = ShardIterator {
            region: region.to_owned(),
            stream: stream.name.clone(),
            shard: shard.index,
            position,
            issued_millis: epoch_millis(self.clock.wall()),
        };
        Ok(json!({ "ShardIterator": iterator.encode() }))
    }

    async fn get_records(
        &self,
        region: &str,
        request: wire::GetRecords,
    ) -> Result<Value, ApiError> {
        let limit = count(
            request.limit,
            "limit",
            MAX_GET_RECORDS,
            MAX_GET_RECORDS,
            MAX_GET_RECORDS,
        )?;
        let iterator = ShardIterator::decode(&request.shard_iterator)?;
        let now = self.clock.instant();
        let wall = self.clock.wall_at(now);
        iterator.check_fresh(epoch_millis(wall))?;
        if iterator.region != region {
            return Err(ApiError::invalid(
                "The shard iterator was issued in another region.",
            ));
        }
        let stream = self.stream_named(region, &iterator.stream).await?;
        let state = stream.read();
        let shard = state
            .shards
            .get(iterator.shard as usize)
            .ok_or_else(|| ApiError::invalid("Invalid ShardIterator: no such shard."))?;
        let mut data = shard.data();
        if !data.buckets.try_read(now) {
            drop(data);
            self.recorder.record(
                wall,
                &stream.region,
                &stream.name,
                names::READ_EXCEEDED,
                Unit::Count,
                1.0,
            );
            return Err(ApiError::new(
                ErrorCode::ProvisionedThroughputExceeded,
                format!(
                    "Rate exceeded for Shard - {} in stream {} under account {}.",
                    shard.id, stream.name, self.account_id
                ),
            ));
        }
        let oldest = wall - Duration::from_secs(u64::from(state.settings.retention_hours) * 3600);
        data.trim(oldest);
        let encrypted = state.settings.encryption_key.is_some();
        let mut records = Vec::new();
        let mut bytes = 0u64;
        let mut next = iterator.position.max(data.first_position());
        let mut last_arrival = None;
        for record in data.records_from(next) {
            if records.len() >= limit
                || (!records.is_empty() && bytes + record.bytes() > MAX_GET_RECORDS_BYTES)
            {
                break;
            }
            bytes += record.bytes();
            next = record.position + 1;
            last_arrival = Some(record.arrival);
            let mut out = json!({
                "SequenceNumber": shard.sequence_number(stream.epoch, record.position).to_string(),
                "ApproximateArrivalTimestamp": epoch_seconds(record.arrival),
                "Data": STANDARD.encode(&record.data),
                "PartitionKey": record.partition_key,
            });
            if encrypted {
                out["EncryptionType"] = json!("KMS");
            }
            records.push(out);
        }
        data.buckets.read_bytes.take(bytes as f64);
        let behind = data
            .records_from(next)
            .next()
            .map_or(0, |r| millis_between(r.arrival, wall));
        let age = last_arrival.map_or(0, |a| millis_between(a, wall));
        let finished = data.closed.is_some_and(|(_, last)| next > last);
        drop(data);
        let count = records.len();
        let mut out = json!({ "Records": records, "MillisBehindLatest": behind });
        if finished {
            let children: Vec<Value> = state
                .children_of(&shard.id)
                .into_iter()
                .map(|child| {
                    let parents: Vec<&String> =
                        child.parent.iter().chain(&child.adjacent_parent).collect();
                    json!({
                        "ShardId": child.id,
                        "ParentShards": parents,
                        "HashKeyRange": {
                            "StartingHashKey": child.range.start.to_string(),
                            "EndingHashKey": child.range.end.to_string(),
                        },
                    })
                })
                .collect();
            out["ChildShards"] = json!(children);
        } else {
            let next_iterator = ShardIterator {
                position: next,
                issued_millis: epoch_millis(wall),
                ..iterator
            };
            out["NextShardIterator"] = json!(next_iterator.encode());
        }
        let record = |metric, unit, value: f64| {
            self.recorder
                .record(wall, &stream.region, &stream.name, metric, unit, value);
        };
        record(names::GET_RECORDS_RECORDS, Unit::Count, count as f64);
        record(names::GET_RECORDS_BYTES, Unit::Bytes, bytes as f64);
        record(names::ITERATOR_AGE, Unit::Milliseconds, age as f64);
        Ok(out)
    }

    async fn update_shard_count(
        &self,
        region: &str,
        request: wire::UpdateShardCount,
    ) -> Result<Value, ApiError> {
        if request.scaling_type != "UNIFORM_SCALING" {
            return Err(ApiError::validation(
                &request.scaling_type,
                "scalingType",
                "Member must satisfy enum value set: [UNIFORM_SCALING]",
            ));
        }
        let stream = self.stream(region, &request.stream).await?;
        let now = self.clock.instant();
        let wall = self.clock.wall_at(now);
        let mut state = stream.write();
        if state.settings.mode == StreamMode::OnDemand {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!(
                    "UpdateShardCount is not supported for stream {} under account {}: it is in \
                     ON_DEMAND mode.",
                    stream.name, self.account_id
                ),
            ));
        }
        let current = u32::try_from(state.open_count()).unwrap_or(u32::MAX);
        let target = request.target_shard_count;
        if !(1..=i64::from(MAX_SHARDS)).contains(&target) {
            return Err(ApiError::validation(
                &target.to_string(),
                "targetShardCount",
                &format!("Member must have value between 1 and {MAX_SHARDS}"),
            ));
        }
        let target = u32::try_from(target).unwrap_or(1);
        if target > current * 2 || target * 2 < current {
            return Err(ApiError::invalid(format!(
                "UpdateShardCount from {current} to {target} shards for stream {} under account \
                 {}: the target must be at least half and at most double the current open \
                 shard count.",
                stream.name, self.account_id
            )));
        }
        let day_ago = now.checked_sub(Duration::from_secs(86_400));
        while state
            .scalings
            .front()
            .is_some_and(|&t| day_ago.is_some_and(|d| t <= d))
        {
            state.scalings.pop_front();
        }
        if state.scalings.len() >= MAX_SCALINGS_PER_DAY {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "Stream {} under account {} has been scaled {MAX_SCALINGS_PER_DAY} times in \
                     the last 24 hours.",
                    stream.name, self.account_id
                ),
            ));
        }
        if target != current {
            state.scale_to(&stream.name, target, &stream.limits, now, wall)?;
            state.scalings.push_back(now);
        }
        info!(stream = %stream.name, region, from = current, to = target, "shard count updated");
        Ok(json!({
            "StreamName": stream.name,
            "StreamARN": stream.arn,
            "CurrentShardCount": current,
            "TargetShardCount": target,
        }))
    }

    async fn split_shard(
        &self,
        region: &str,
        request: wire::SplitShard,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let key = parse_hash_key(&request.new_starting_hash_key).ok_or_else(|| {
            ApiError::invalid(format!(
                "NewStartingHashKey {:?} is not a hash key in [0, 2^128-1].",
                request.new_starting_hash_key
            ))
        })?;
        let now = self.clock.instant();
        let mut state = stream.write();
        self.provisioned(&stream, &state, "SplitShard")?;
        state.split(
            &stream.name,
            &request.shard_to_split,
            key,
            &stream.limits,
            now,
            self.clock.wall_at(now),
        )?;
        Ok(json!({}))
    }

    async fn merge_shards(
        &self,
        region: &str,
        request: wire::MergeShards,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let now = self.clock.instant();
        let mut state = stream.write();
        self.provisioned(&stream, &state, "MergeShards")?;
        state.merge(
            &stream.name,
            &request.shard_to_merge,
            &request.adjacent_shard_to_merge,
            &stream.limits,
            now,
            self.clock.wall_at(now),
        )?;
        Ok(json!({}))
    }

    fn provisioned(
        &self,
        stream: &Stream,
        state: &StreamState,
        operation: &str,
    ) -> Result<(), ApiError> {
        if state.settings.mode == StreamMode::OnDemand {
            return Err(ApiError::new(
                ErrorCode::Validation,
                format!(
                    "{operation} is not supported for stream {} under account {}: it is in \
                     ON_DEMAND mode.",
                    stream.name, self.account_id
                ),
            ));
        }
        Ok(())
    }

    async fn retention(
        &self,
        region: &str,
        request: wire::RetentionPeriod,
        increase: bool,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let hours = request.retention_period_hours;
        if !(24..=8760).contains(&hours) {
            return Err(ApiError::invalid(format!(
                "Minimum allowed retention period is 24 hours and maximum is 8760 hours; \
                 requested {hours}."
            )));
        }
        let hours = u32::try_from(hours).unwrap_or(24);
        let mut state = stream.write();
        let current = state.settings.retention_hours;
        if (increase && hours < current) || (!increase && hours > current) {
            return Err(ApiError::invalid(format!(
                "Requested retention period ({hours} hours) for stream {} can not be {} than \
                 existing retention period ({current} hours).",
                stream.name,
                if increase { "shorter" } else { "longer" }
            )));
        }
        state.settings.retention_hours = hours;
        Ok(json!({}))
    }

    async fn encryption(
        &self,
        region: &str,
        request: wire::StreamEncryption,
        start: bool,
    ) -> Result<Value, ApiError> {
        if request.encryption_type != "KMS" {
            return Err(ApiError::validation(
                &request.encryption_type,
                "encryptionType",
                "Member must satisfy enum value set: [KMS]",
            ));
        }
        let stream = self.stream(region, &request.stream).await?;
        let mut state = stream.write();
        state.settings.encryption_key = start.then_some(request.key_id);
        Ok(json!({}))
    }

    async fn add_tags(&self, region: &str, request: wire::AddTags) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let mut state = stream.write();
        state.settings.tags.extend(request.tags);
        if state.settings.tags.len() > 50 {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                "A stream can have at most 50 tags.",
            ));
        }
        Ok(json!({}))
    }

    async fn remove_tags(
        &self,
        region: &str,
        request: wire::RemoveTags,
    ) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request.stream).await?;
        let mut state = stream.write();
        for key in &request.tag_keys {
            state.settings.tags.remove(key);
        }
        Ok(json!({}))
    }

    async fn list_tags(&self, region: &str, request: wire::StreamRef) -> Result<Value, ApiError> {
        let stream = self.stream(region, &request).await?;
        let state = stream.read();
        let tags: Vec<Value> = state
            .settings
            .tags
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        Ok(json!({ "Tags": tags, "HasMoreTags": false }))
    }

    fn describe_limits(&self, region: &str) -> Value {
        let streams = self.streams_read();
        let in_region = streams.iter().filter(|((r, _), _)| r == region);
        let (mut open, mut on_demand) = (0, 0);
        for (_, stream) in in_region {
            let state = stream.read();
            open += state.open_count();
            if state.settings.mode == StreamMode::OnDemand {
                on_demand += 1;
            }
        }
        json!({
            "ShardLimit": 6000,
            "OpenShardCount": open,
            "OnDemandStreamCount": on_demand,
            "OnDemandStreamCountLimit": 50,
        })
    }
}

/// A record put.
struct Put {
    shard_id: String,
    sequence_number: String,
    encrypted: bool,
}

fn millis_between(earlier: SystemTime, later: SystemTime) -> u64 {
    u64::try_from(
        later
            .duration_since(earlier)
            .unwrap_or(Duration::ZERO)
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// Whether `shard` passes a `ListShards` filter.
fn shard_matches(filter: &wire::ShardFilter, shard: &Shard, state: &StreamState) -> bool {
    let closed_at = shard.data().closed.map(|(at, _)| at);
    let at = filter.timestamp.and_then(from_epoch_seconds);
    match filter.r#type.as_str() {
        "AT_LATEST" => state.is_open(shard),
        "AT_TRIM_HORIZON" => shard
            .parent
            .as_deref()
            .is_none_or(|p| state.shard(p).is_none()),
        "FROM_TRIM_HORIZON" => true,
        "AFTER_SHARD_ID" => filter
            .shard_id
            .as_deref()
            .and_then(crate::stream::shard_index)
            .is_none_or(|after| shard.index > after),
        "AT_TIMESTAMP" => at.is_none_or(|t| shard.created <= t && closed_at.is_none_or(|c| c > t)),
        "FROM_TIMESTAMP" => at.is_none_or(|t| closed_at.is_none_or(|c| c > t)),
        _ => true,
    }
}
