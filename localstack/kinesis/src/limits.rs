//! A shard's limits, from the Kinesis Data Streams quotas: writes of 1,000 records and 1 MiB
//! (data and partition key) per second, reads of 5 `GetRecords` calls and 2 MiB per second.
//!
//! Each limit is a token bucket holding one second of its rate, full when the shard opens and
//! refilled continuously: a shard takes a second's worth at once, then its rate. Read bytes may
//! go into debt: a call is answered while the bucket holds anything and takes what it returned,
//! so one 10 MiB answer blocks the shard's reads for about the 5 s the quotas page describes.

use tokio::time::Instant;

/// Bytes in a mebibyte.
pub const MIB: u64 = 1024 * 1024;

/// The per-shard limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardLimits {
    /// Records written per second.
    pub write_records_per_second: f64,
    /// Bytes written per second: data plus partition key.
    pub write_bytes_per_second: f64,
    /// `GetRecords` calls per second, all consumers of the shard together.
    pub read_calls_per_second: f64,
    /// Bytes read per second, all consumers together.
    pub read_bytes_per_second: f64,
}

impl ShardLimits {
    /// AWS's documented limits.
    pub const AWS: ShardLimits = ShardLimits {
        write_records_per_second: 1000.0,
        write_bytes_per_second: MIB as f64,
        read_calls_per_second: 5.0,
        read_bytes_per_second: 2.0 * MIB as f64,
    };

    /// No limit at all: what the emulators do.
    pub const UNLIMITED: ShardLimits = ShardLimits {
        write_records_per_second: f64::INFINITY,
        write_bytes_per_second: f64::INFINITY,
        read_calls_per_second: f64::INFINITY,
        read_bytes_per_second: f64::INFINITY,
    };

    /// The same shape with smaller numbers: writes and read bytes times `factor` (in `(0, 1]`),
    /// for a machine that cannot offer AWS's rates. The read call rate stays: it is about how
    /// many consumers poll, not how much they read.
    pub fn scaled(self, factor: f64) -> ShardLimits {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor.min(1.0)
        } else {
            1.0
        };
        ShardLimits {
            write_records_per_second: self.write_records_per_second * factor,
            write_bytes_per_second: self.write_bytes_per_second * factor,
            read_calls_per_second: self.read_calls_per_second,
            read_bytes_per_second: self.read_bytes_per_second * factor,
        }
    }
}

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits::AWS
    }
}

/// A token bucket: `rate` tokens a second, holding at most one second's worth.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    rate: f64,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(rate: f64, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: rate,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.rate.is_infinite() {
            self.tokens = f64::INFINITY;
            return;
        }
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.updated = now;
    }

    /// Whether `amount` tokens are there.
    pub(crate) fn has(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= amount
    }

    /// Whether the bucket holds anything (it may have been overdrawn).
    pub(crate) fn positive(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens > 0.0
    }

    /// Takes `amount`, into debt if need be.
    pub(crate) fn take(&mut self, amount: f64) {
        if self.rate.is_finite() {
            self.tokens -= amount;
        }
    }

    /// How long until the bucket holds `amount` (zero when it does).
    #[cfg(test)]
    pub(crate) fn wait_for(&mut self, amount: f64, now: Instant) -> std::time::Duration {
        self.refill(now);
        if self.tokens >= amount || self.rate.is_infinite() {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64((amount - self.tokens) / self.rate)
    }
}

/// A shard's four buckets.
#[derive(Debug, Clone)]
pub(crate) struct ShardBuckets {
    pub(crate) write_records: Bucket,
    pub(crate) write_bytes: Bucket,
    pub(crate) read_calls: Bucket,
    pub(crate) read_bytes: Bucket,
}

impl ShardBuckets {
    pub(crate) fn new(limits: &ShardLimits, now: Instant) -> ShardBuckets {
        ShardBuckets {
            write_records: Bucket::full(limits.write_records_per_second, now),
            write_bytes: Bucket::full(limits.write_bytes_per_second, now),
            read_calls: Bucket::full(limits.read_calls_per_second, now),
            read_bytes: Bucket::full(limits.read_bytes_per_second, now),
        }
    }

    /// Takes one record of `bytes` when both write limits allow it.
    pub(crate) fn try_write(&mut self, bytes: u64, now: Instant) -> bool {
        let bytes = bytes as f64;
        if self.write_records.has(1.0, now) && self.write_bytes.has(bytes, now) {
            self.write_records.take(1.0);
            self.write_bytes.take(bytes);
            true
        } else {
            false
        }
    }

    /// Takes one read call when the call rate allows it and the read bytes are not overdrawn.
    pub(crate) fn try_read(&mut self, now: Instant) -> bool {
        if self.read_calls.has(1.0, now) && self.read_bytes.positive(now) {
            self.read_calls.take(1.0);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_holds_one_second_and_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(1000.0, start);
        assert!(bucket.has(1000.0, start));
        bucket.take(1000.0);
        assert!(!bucket.has(1.0, start));
        assert_eq!(bucket.wait_for(1.0, start), Duration::from_millis(1));
        let later = start + Duration::from_millis(250);
        assert!(bucket.has(250.0, later));
        assert!(!bucket.has(251.0, later));
        // Never more than a second's worth, however long it rests.
        let much_later = start + Duration::from_secs(60);
        assert!(bucket.has(1000.0, much_later));
        assert!(!bucket.has(1001.0, much_later));
    }

    #[tokio::test(start_paused = true)]
    async fn read_bytes_go_into_debt_and_block_until_repaid() {
        let start = Instant::now();
        let mut buckets = ShardBuckets::new(&ShardLimits::AWS, start);
        assert!(buckets.try_read(start));
        buckets.read_bytes.take(10.0 * MIB as f64);
        // 2 MiB held, 10 MiB taken: 8 MiB of debt at 2 MiB/s.
        assert!(!buckets.try_read(start + Duration::from_millis(3_900)));
        assert!(buckets.try_read(start + Duration::from_millis(4_100)));
    }

    #[test]
    fn scaling_keeps_the_read_call_rate() {
        let scaled = ShardLimits::AWS.scaled(0.25);
        assert_eq!(scaled.write_records_per_second, 250.0);
        assert_eq!(scaled.write_bytes_per_second, MIB as f64 / 4.0);
        assert_eq!(scaled.read_calls_per_second, 5.0);
        assert_eq!(scaled.read_bytes_per_second, MIB as f64 / 2.0);
        assert_eq!(ShardLimits::AWS.scaled(0.0), ShardLimits::AWS);
        assert_eq!(ShardLimits::AWS.scaled(3.0), ShardLimits::AWS);
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_refuses() {
        let start = Instant::now();
        let mut buckets = ShardBuckets::new(&ShardLimits::UNLIMITED, start);
        for _ in 0..100_000 {
            assert!(buckets.try_write(1024, start));
        }
        assert!(buckets.try_read(start));
    }
}
