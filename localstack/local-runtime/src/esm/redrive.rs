//! Redriving a discarded batch, as an operator does once the fault is fixed: the records an
//! on-failure [`InvocationRecord`] names (its shard and sequence range, not the records
//! themselves) are read again from the stream with `GetShardIterator AT_SEQUENCE_NUMBER` and
//! passed through the function in the event the mapping sends, in order, in batches of the
//! mapping's `BatchSize`.
//!
//! A redrive does not retry: the first failure stops it and says from which record on nothing
//! was processed, so it can be redriven again from there.
//!
//! [`InvocationRecord`]: super::InvocationRecord

use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::Value;
use tracing::info;

use super::config::{ConfigError, EventSourceMappingConfig};
use super::event::{event, event_record};
use super::mapping::within_payload_limit;
use super::record::KinesisBatchInfo;
use super::response::{self, Reported};
use crate::lambda::{Invoke, InvokeError};
use crate::retry::Backoff;
use crate::stream::{MAX_RECORDS_PER_READ, StreamRecord, compare_sequence_numbers};

/// The most `GetRecords` calls one redrive makes: Kinesis may answer empty pages before the
/// tip, so an empty page alone does not end the read.
const MAX_READS: usize = 1_000;
/// How long to wait before reading again after an empty page that is not at the tip.
const EMPTY_PAGE_WAIT: Duration = Duration::from_millis(200);

/// A redrive that went through: every record of the range was processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redriven {
    /// Records read from the stream and passed through the function.
    pub records: usize,
    /// Invocations made.
    pub invocations: usize,
}

/// Why a redrive did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// The mapping's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The batch comes from another stream than the mapping's.
    #[error("the batch comes from stream {batch_stream}, the mapping reads {mapping_stream}")]
    OtherStream {
        /// `streamArn` of the batch.
        batch_stream: String,
        /// The mapping's `EventSourceArn`.
        mapping_stream: String,
    },
    /// The stream cannot be read.
    #[error("cannot read shard {shard} of stream {stream}: {message}")]
    Read {
        /// The stream.
        stream: String,
        /// The shard.
        shard: String,
        /// The SDK's error, with its causes.
        message: String,
    },
    /// The stream no longer holds the records the batch names (they expired), or holds others.
    #[error(
        "shard {shard} holds {found} records from {start_sequence_number} to \
         {end_sequence_number}, the batch names {expected}: nothing was redriven"
    )]
    Incomplete {
        /// The shard.
        shard: String,
        /// The first record of the batch.
        start_sequence_number: String,
        /// The last record of the batch.
        end_sequence_number: String,
        /// `batchSize` of the batch.
        expected: usize,
        /// Records found in the range.
        found: usize,
    },
    /// The function failed on a batch; it and the records after it were not processed.
    #[error(
        "shard {shard}: the function failed on the records from {from_sequence_number} on \
         ({records_left} records not processed)"
    )]
    FunctionFailed {
        /// The shard.
        shard: String,
        /// The first record not processed.
        from_sequence_number: String,
        /// Records not processed, that one included.
        records_left: usize,
        /// The invocation's error.
        #[source]
        source: InvokeError,
    },
    /// The function reported item failures (or a partial batch response that cannot be read):
    /// the records from the lowest reported one on were not processed.
    #[error(
        "shard {shard}: the function reported a failure from {from_sequence_number} on \
         ({records_left} records not processed)"
    )]
    ItemFailures {
        /// The shard.
        shard: String,
        /// The first record not processed.
        from_sequence_number: String,
        /// Records not processed, that one included.
        records_left: usize,
    },
}

/// Reads the records of `batch` (a discarded batch's `KinesisBatchInfo`) from the stream and
/// passes them through `function` as the mapping of `config` would: the same event, batches of
/// its `BatchSize` within the invocation payload limit, its `ReportBatchItemFailures`. Nothing is
/// invoked unless the stream still holds every record of the batch.
pub async fn redrive<I: Invoke>(
    config: &EventSourceMappingConfig,
    function: &I,
    kinesis: &Client,
    batch: &KinesisBatchInfo,
) -> Result<Redriven, RedriveError> {
    let settings = config.validate()?;
    if batch.stream_arn != settings.stream.as_str() {
        return Err(RedriveError::OtherStream {
            batch_stream: batch.stream_arn.clone(),
            mapping_stream: settings.stream.to_string(),
        });
    }
    let records = read_range(kinesis, settings.stream.name(), batch).await?;
    if records.len() != batch.batch_size {
        return Err(RedriveError::Incomplete {
            shard: batch.shard_id.clone(),
            start_sequence_number: batch.start_sequence_number.clone(),
            end_sequence_number: batch.end_sequence_number.clone(),
            expected: batch.batch_size,
            found: records.len(),
        });
    }
    let events: Vec<Value> = records
        .iter()
        .map(|r| {
            event_record(
                r,
                &batch.shard_id,
                &settings.stream,
                &settings.invoke_identity_arn,
            )
        })
        .collect();
    let sequence_numbers: Vec<&str> = records.iter().map(|r| r.sequence_number.as_str()).collect();
    let batch_size = usize::try_from(settings.batch_size).unwrap_or(usize::MAX);
    let mut invocations = 0;
    let mut done = 0;
    for chunk in events.chunks(batch_size) {
        for part in within_payload_limit(chunk) {
            let start = done + part.start;
            let range = start..done + part.end;
            invocations += 1;
            let failed_from = match function.invoke(event(&events[range.clone()])).await {
                Ok(_) if !settings.report_batch_item_failures => None,
                Ok(answer) => match response::read(&answer, &sequence_numbers[range.clone()]) {
                    Reported::AllSucceeded => None,
                    Reported::FailedFrom(position) => Some(start + position),
                    Reported::Malformed => Some(start),
                },
                Err(source) => {
                    return Err(RedriveError::FunctionFailed {
                        shard: batch.shard_id.clone(),
                        from_sequence_number: sequence_numbers[start].to_owned(),
                        records_left: records.len() - start,
                        source,
                    });
                }
            };
            if let Some(first) = failed_from {
                return Err(RedriveError::ItemFailures {
                    shard: batch.shard_id.clone(),
                    from_sequence_number: sequence_numbers[first].to_owned(),
                    records_left: records.len() - first,
                });
            }
        }
        done += chunk.len();
    }
    info!(
        shard = %batch.shard_id,
        start_sequence_number = %batch.start_sequence_number,
        end_sequence_number = %batch.end_sequence_number,
        records = records.len(),
        invocations,
        "batch redriven"
    );
    Ok(Redriven {
        records: records.len(),
        invocations,
    })
}

/// The records of the shard from the batch's first sequence number to its last, in order.
/// Throttled `GetRecords` made again at most, per read.
const MAX_THROTTLED_READS: u32 = 20;

async fn read_range(
    kinesis: &Client,
    stream_name: &str,
    batch: &KinesisBatchInfo,
) -> Result<Vec<StreamRecord>, RedriveError> {
    let error = |e: String| RedriveError::Read {
        stream: batch.stream_arn.clone(),
        shard: batch.shard_id.clone(),
        message: e,
    };
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream_name)
        .shard_id(&batch.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&batch.start_sequence_number)
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(&e).to_string()))?
        .shard_iterator()
        .map(str::to_owned);
    let mut records = Vec::new();
    let mut reads = 0;
    while let Some(current) = iterator.take() {
        reads += 1;
        if reads > MAX_READS {
            return Err(error(format!(
                "the end of the range was not reached within {MAX_READS} reads"
            )));
        }
        // The shard's read limit is shared with the mapping and Firehose: a throttled read is
        // made again a little later, as a consumer does.
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        let output = loop {
            match kinesis
                .get_records()
                .shard_iterator(&current)
                .limit(i32::try_from(MAX_RECORDS_PER_READ).unwrap_or(i32::MAX))
                .send()
                .await
            {
                Ok(output) => break output,
                Err(SdkError::ServiceError(e))
                    if e.err().is_provisioned_throughput_exceeded_exception()
                        && backoff.attempts() < MAX_THROTTLED_READS =>
                {
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => return Err(error(DisplayErrorContext(&e).to_string())),
            }
        };
        for record in output.records() {
            let record = StreamRecord::from_sdk(record);
            if compare_sequence_numbers(&record.sequence_number, &batch.end_sequence_number).is_gt()
            {
                return Ok(records);
            }
            records.push(record);
        }
        let at_tip = output
            .millis_behind_latest()
            .is_none_or(|behind| behind == 0);
        if output.records().is_empty() {
            if at_tip {
                break;
            }
            tokio::time::sleep(EMPTY_PAGE_WAIT).await;
        }
        iterator = output.next_shard_iterator().map(str::to_owned);
    }
    Ok(records)
}
