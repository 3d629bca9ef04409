//! Firehose's buffer: records concatenated as they are (Firehose adds no delimiter unless an
//! `AppendDelimiterToRecord` processor says so) until the size or the interval is reached, then
//! one S3 object named as Firehose names it.

use std::io::Write;

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::time::Instant;

use crate::stream::StreamRecord;

/// Records waiting for delivery.
#[derive(Debug, Default)]
pub(super) struct Buffer {
    data: Vec<u8>,
    records: usize,
    oldest: Option<DateTime<Utc>>,
    started: Option<Instant>,
}

/// The content of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Batch {
    /// The records, concatenated.
    pub(super) data: Vec<u8>,
    /// How many.
    pub(super) records: usize,
    /// The approximate arrival time of the oldest: the time of the prefix and the name.
    pub(super) oldest: DateTime<Utc>,
}

impl Buffer {
    /// Whether adding `record` would take the buffer past `size_bytes`: the buffer is then
    /// delivered first, so an object holds at most the buffer size (or one larger record).
    pub(super) fn would_overflow(
        &self,
        record: &StreamRecord,
        delimiter: &[u8],
        size_bytes: usize,
    ) -> bool {
        self.records > 0 && self.data.len() + record.data.len() + delimiter.len() > size_bytes
    }

    /// Adds a record followed by `delimiter`; the interval starts with the first record.
    pub(super) fn push(&mut self, record: &StreamRecord, delimiter: &[u8], now: Instant) {
        self.data.extend_from_slice(&record.data);
        self.data.extend_from_slice(delimiter);
        self.records += 1;
        self.oldest = Some(match self.oldest {
            Some(oldest) => oldest.min(record.approximate_arrival),
            None => record.approximate_arrival,
        });
        self.started.get_or_insert(now);
    }

    /// Whether the buffer reached `size_bytes`.
    pub(super) fn is_full(&self, size_bytes: usize) -> bool {
        self.data.len() >= size_bytes
    }

    /// When the first record came in, if any is waiting.
    pub(super) fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Empties the buffer into a batch, if it holds records.
    pub(super) fn take(&mut self) -> Option<Batch> {
        let oldest = self.oldest?;
        let taken = std::mem::take(self);
        Some(Batch {
            data: taken.data,
            records: taken.records,
            oldest,
        })
    }
}

impl Batch {
    /// The object's key: `<evaluated prefix><name>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid>`,
    /// with `.gz` when gzipped, all times from the oldest record in UTC.
    pub(super) fn key(
        &self,
        evaluated_prefix: &str,
        stream_name: &str,
        version: u32,
        gzip: bool,
    ) -> String {
        format!(
            "{evaluated_prefix}{stream_name}-{version}-{}-{}{}",
            self.oldest.format("%Y-%m-%d-%H-%M-%S"),
            uuid::Uuid::new_v4(),
            if gzip { ".gz" } else { "" }
        )
    }

    /// The object's body.
    pub(super) fn body(&self, gzip: bool) -> std::io::Result<Vec<u8>> {
        if !gzip {
            return Ok(self.data.clone());
        }
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&self.data)?;
        encoder.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    fn record(data: &str, millis: i64) -> StreamRecord {
        StreamRecord {
            sequence_number: "1".to_owned(),
            partition_key: "k".to_owned(),
            data: data.as_bytes().to_vec(),
            approximate_arrival: DateTime::from_timestamp_millis(millis).expect("an instant"),
            kms_encrypted: false,
        }
    }

    #[test]
    fn records_are_concatenated_and_the_oldest_arrival_kept() {
        let mut buffer = Buffer::default();
        assert_eq!(buffer.take(), None);
        let now = Instant::now();
        buffer.push(&record("{\"a\":1}", 2_000), b"", now);
        buffer.push(&record("{\"b\":2}", 1_000), b"", now);
        assert_eq!(buffer.started(), Some(now));
        let batch = buffer.take().expect("a batch");
        assert_eq!(batch.data, b"{\"a\":1}{\"b\":2}");
        assert_eq!(batch.records, 2);
        assert_eq!(batch.oldest.timestamp_millis(), 1_000);
        assert_eq!(buffer.started(), None);
    }

    #[test]
    fn the_size_limit_is_checked_before_and_after_adding() {
        let mut buffer = Buffer::default();
        let ten = record("0123456789", 0);
        assert!(
            !buffer.would_overflow(&ten, b"", 5),
            "an empty buffer takes any record"
        );
        buffer.push(&ten, b"", Instant::now());
        assert!(buffer.is_full(10));
        assert!(!buffer.is_full(11));
        assert!(buffer.would_overflow(&ten, b"", 15));
        assert!(!buffer.would_overflow(&ten, b"", 20));
        assert!(
            buffer.would_overflow(&ten, b"\n", 20),
            "the delimiter counts toward the size"
        );
    }

    #[test]
    fn a_delimiter_follows_every_record() {
        let mut buffer = Buffer::default();
        let now = Instant::now();
        buffer.push(&record("{\"a\":1}", 0), b"\n", now);
        buffer.push(&record("{\"b\":2}", 0), b"\n", now);
        let batch = buffer.take().expect("a batch");
        assert_eq!(batch.data, b"{\"a\":1}\n{\"b\":2}\n", "JSON Lines");
    }

    #[test]
    fn the_name_is_firehoses_and_gzip_round_trips() {
        let batch = Batch {
            data: b"{\"a\":1}".to_vec(),
            records: 1,
            oldest: DateTime::parse_from_rfc3339("2026-03-07T05:09:01.250Z")
                .expect("an instant")
                .to_utc(),
        };
        let key = batch.key("events/year=2026/", "archive", 1, true);
        let (start, rest) = key.split_at("events/year=2026/archive-1-2026-03-07-05-09-01-".len());
        assert_eq!(start, "events/year=2026/archive-1-2026-03-07-05-09-01-");
        let uuid = rest.strip_suffix(".gz").expect("a .gz name");
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{uuid}");
        assert!(!batch.key("", "archive", 1, false).ends_with(".gz"));

        let body = batch.body(true).expect("gzipped");
        let mut plain = Vec::new();
        GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .expect("gunzipped");
        assert_eq!(plain, b"{\"a\":1}");
        assert_eq!(batch.body(false).expect("as is"), b"{\"a\":1}");
    }
}
