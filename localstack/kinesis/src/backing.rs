//! The emulator behind the local Kinesis: streams created there (by its CloudFormation) are
//! taken over on first use, with their ARN, creation time, mode, retention, encryption and open
//! shards' hash key ranges.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::types::{EncryptionType, StreamMode as SdkStreamMode};

use crate::hash::{HashKeyRange, uniform};
use crate::stream::StreamMode;

/// A stream as the backing emulator describes it.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub(crate) arn: String,
    pub(crate) created: SystemTime,
    pub(crate) mode: StreamMode,
    pub(crate) retention_hours: u32,
    pub(crate) encryption_key: Option<String>,
    pub(crate) ranges: Vec<HashKeyRange>,
}

/// Why the backing emulator could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("cannot ask the emulator at {endpoint} about stream {stream}: {message}")]
pub struct BackingError {
    pub endpoint: String,
    pub stream: String,
    pub message: String,
}

/// The emulator's Kinesis endpoint, asked with dummy credentials.
#[derive(Debug)]
pub struct Backing {
    endpoint: String,
    clients: Mutex<HashMap<String, aws_sdk_kinesis::Client>>,
}

impl Backing {
    pub fn new(endpoint: impl Into<String>) -> Backing {
        Backing {
            endpoint: endpoint.into(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn client(&self, region: &str) -> aws_sdk_kinesis::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_kinesis::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .endpoint_url(&self.endpoint)
                    .region(Region::new(region.to_owned()))
                    .credentials_provider(Credentials::new("test", "test", None, None, "backing"))
                    .build();
                aws_sdk_kinesis::Client::from_conf(config)
            })
            .clone()
    }

    /// The stream's names in the region.
    pub(crate) async fn names(&self, region: &str) -> Result<Vec<String>, BackingError> {
        let client = self.client(region);
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let output = client
                .list_streams()
                .set_exclusive_start_stream_name(start.clone())
                .send()
                .await
                .map_err(|e| self.error("*", &e))?;
            names.extend(output.stream_names().iter().cloned());
            if !output.has_more_streams() || output.stream_names().is_empty() {
                return Ok(names);
            }
            start = names.last().cloned();
        }
    }

    /// The stream, or `None` when the emulator has no such stream.
    pub(crate) async fn describe(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<Described>, BackingError> {
        let client = self.client(region);
        let summary = match client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(self.error(name, &e)),
        };
        let Some(summary) = summary.stream_description_summary() else {
            return Ok(None);
        };
        let mut ranges = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = match &token {
                Some(t) => client.list_shards().next_token(t),
                None => client.list_shards().stream_name(name),
            };
            let output = request.send().await.map_err(|e| self.error(name, &e))?;
            for shard in output.shards() {
                let open = shard
                    .sequence_number_range()
                    .is_none_or(|r| r.ending_sequence_number().is_none());
                let range = shard.hash_key_range().and_then(|r| {
                    Some(HashKeyRange {
                        start: r.starting_hash_key().parse().ok()?,
                        end: r.ending_hash_key().parse().ok()?,
                    })
                });
                if let (true, Some(range)) = (open, range) {
                    ranges.push(range);
                }
            }
            match output.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        ranges.sort_by_key(|r| r.start);
        let tiles = !ranges.is_empty()
            && ranges[0].start == 0
            && ranges.last().map(|r| r.end) == Some(u128::MAX)
            && ranges
                .windows(2)
                .all(|w| w[0].end.checked_add(1) == Some(w[1].start));
        if !tiles {
            let count = u32::try_from(summary.open_shard_count().max(1)).unwrap_or(1);
            ranges = uniform(count);
        }
        let created = summary.stream_creation_timestamp();
        Ok(Some(Described {
            arn: summary.stream_arn().to_owned(),
            created: SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(created.secs()).unwrap_or(0)),
            mode: match summary.stream_mode_details().map(|d| d.stream_mode()) {
                Some(SdkStreamMode::OnDemand) => StreamMode::OnDemand,
                _ => StreamMode::Provisioned,
            },
            retention_hours: u32::try_from(summary.retention_period_hours()).unwrap_or(24),
            encryption_key: match summary.encryption_type() {
                Some(EncryptionType::Kms) => summary.key_id().map(str::to_owned),
                _ => None,
            },
            ranges,
        }))
    }

    fn error<E: std::error::Error + 'static>(&self, stream: &str, e: &E) -> BackingError {
        BackingError {
            endpoint: self.endpoint.clone(),
            stream: stream.to_owned(),
            message: DisplayErrorContext(e).to_string(),
        }
    }
}
