//! One stream: its shards (open and closed), their records, their limits, and resharding.
//!
//! Locks: the stream's shard list is read-locked by writes and reads and write-locked by
//! resharding, so a record is never put on a shard that is closing; each shard's records and
//! buckets are behind the shard's own mutex, so concurrent writers to one shard are serialized
//! and every record gets its own position: nothing confirmed is lost or duplicated.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::error::{ApiError, ErrorCode};
use crate::hash::{HashKeyRange, boundary};
use crate::limits::{ShardBuckets, ShardLimits};
use crate::sequence::SequenceNumber;

/// How a stream's capacity is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Provisioned,
    /// AWS manages the shards; a new on-demand stream writes 4 MiB/s and 4,000 records/s,
    /// which is 4 shards.
    OnDemand,
}

impl StreamMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        }
    }

    pub fn parse(text: &str) -> Option<StreamMode> {
        match text {
            "PROVISIONED" => Some(StreamMode::Provisioned),
            "ON_DEMAND" => Some(StreamMode::OnDemand),
            _ => None,
        }
    }
}

/// The shards a new on-demand stream has.
pub const ON_DEMAND_SHARDS: u32 = 4;

/// The largest record by default (data and partition key): 1 MiB.
pub const DEFAULT_MAX_RECORD_KIB: u32 = 1024;

/// A record as stored.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) position: u64,
    pub(crate) partition_key: String,
    pub(crate) data: Vec<u8>,
    pub(crate) arrival: SystemTime,
}

impl Stored {
    pub(crate) fn bytes(&self) -> u64 {
        (self.data.len() + self.partition_key.len()) as u64
    }
}

/// What a shard holds, behind its mutex.
#[derive(Debug)]
pub(crate) struct ShardData {
    pub(crate) records: VecDeque<Stored>,
    /// The position the next record takes; positions start at 1.
    pub(crate) next_position: u64,
    /// When the shard closed, and the position of its last record (0 when it had none).
    pub(crate) closed: Option<(SystemTime, u64)>,
    pub(crate) buckets: ShardBuckets,
}

impl ShardData {
    /// The position of the oldest record kept (or where the next one goes).
    pub(crate) fn first_position(&self) -> u64 {
        self.records
            .front()
            .map_or(self.next_position, |r| r.position)
    }

    /// The records from `position` on.
    pub(crate) fn records_from(&self, position: u64) -> impl Iterator<Item = &Stored> {
        let skip = position.saturating_sub(self.first_position());
        self.records
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
    }

    /// Drops what is older than the retention period.
    pub(crate) fn trim(&mut self, oldest: SystemTime) {
        while self.records.front().is_some_and(|r| r.arrival < oldest) {
            self.records.pop_front();
        }
    }
}

/// A shard.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) index: u32,
    pub(crate) id: String,
    pub(crate) range: HashKeyRange,
    pub(crate) parent: Option<String>,
    pub(crate) adjacent_parent: Option<String>,
    pub(crate) created: SystemTime,
    data: Mutex<ShardData>,
}

impl Shard {
    pub(crate) fn data(&self) -> MutexGuard<'_, ShardData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sequence_number(&self, epoch: u64, position: u64) -> SequenceNumber {
        SequenceNumber {
            epoch,
            shard: self.index,
            position,
        }
    }
}

/// The id of the shard with `index`: `shardId-000000000007`.
pub fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// The index of a shard id; `None` when it is not one.
pub fn shard_index(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("shardId-")?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What a stream is, apart from its shards.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) mode: StreamMode,
    pub(crate) retention_hours: u32,
    /// The KMS key when the stream is encrypted.
    pub(crate) encryption_key: Option<String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) max_record_kib: u32,
}

/// The shards and settings of a stream, behind its read-write lock.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) settings: Settings,
    /// Every shard, by index.
    pub(crate) shards: Vec<Arc<Shard>>,
    /// The indices of the open shards, in hash key order.
    pub(crate) open: Vec<usize>,
    /// When `UpdateShardCount` was called, for its limit of 10 a day.
    pub(crate) scalings: VecDeque<Instant>,
}

/// What names a stream.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) arn: String,
    pub(crate) created: SystemTime,
}

/// A stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) arn: String,
    pub(crate) created: SystemTime,
    /// The creation second, in every sequence number.
    pub(crate) epoch: u64,
    pub(crate) limits: ShardLimits,
    state: RwLock<StreamState>,
}

impl Stream {
    /// A stream whose shards cover the key space as `ranges` say (in order), all open.
    pub(crate) fn new(
        identity: Identity,
        settings: Settings,
        ranges: &[HashKeyRange],
        limits: ShardLimits,
        now: Instant,
    ) -> Stream {
        let Identity {
            name,
            region,
            arn,
            created,
        } = identity;
        let epoch = created
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let mut state = StreamState {
            settings,
            shards: Vec::new(),
            open: Vec::new(),
            scalings: VecDeque::new(),
        };
        for range in ranges {
            state.add_shard(*range, None, None, created, &limits, now);
        }
        Stream {
            name,
            region,
            arn,
            created,
            epoch,
            limits,
            state: RwLock::new(state),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, StreamState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, StreamState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl StreamState {
    fn add_shard(
        &mut self,
        range: HashKeyRange,
        parent: Option<String>,
        adjacent_parent: Option<String>,
        created: SystemTime,
        limits: &ShardLimits,
        now: Instant,
    ) -> usize {
        let index = self.shards.len();
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        self.shards.push(Arc::new(Shard {
            index: index32,
            id: shard_id(index32),
            range,
            parent,
            adjacent_parent,
            created,
            data: Mutex::new(ShardData {
                records: VecDeque::new(),
                next_position: 1,
                closed: None,
                buckets: ShardBuckets::new(limits, now),
            }),
        }));
        let at = self
            .open
            .iter()
            .position(|&i| self.shards[i].range.start > range.start)
            .unwrap_or(self.open.len());
        self.open.insert(at, index);
        index
    }

    /// The shard with `id`, open or closed.
    pub(crate) fn shard(&self, id: &str) -> Option<&Arc<Shard>> {
        shard_index(id).and_then(|i| self.shards.get(i as usize))
    }

    /// The open shard whose range holds `key`.
    pub(crate) fn route(&self, key: u128) -> Option<&Arc<Shard>> {
        self.open
            .iter()
            .map(|&i| &self.shards[i])
            .find(|s| s.range.contains(key))
    }

    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }

    pub(crate) fn is_open(&self, shard: &Shard) -> bool {
        self.open.contains(&(shard.index as usize))
    }

    /// The shards whose parent (or adjacent parent) is `id`.
    pub(crate) fn children_of(&self, id: &str) -> Vec<&Arc<Shard>> {
        self.shards
            .iter()
            .filter(|s| s.parent.as_deref() == Some(id) || s.adjacent_parent.as_deref() == Some(id))
            .collect()
    }

    fn close(&mut self, index: usize, at: SystemTime) {
        self.open.retain(|&i| i != index);
        let mut data = self.shards[index].data();
        let last = data.next_position - 1;
        data.closed = Some((at, last));
    }

    fn open_shard(&self, id: &str, stream: &str) -> Result<usize, ApiError> {
        let shard = self.shard(id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ResourceNotFound,
                format!("Could not find shard {id} in stream {stream}."),
            )
        })?;
        let index = shard.index as usize;
        if !self.open.contains(&index) {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!(
                    "Shard {id} in stream {stream} is closed; only open shards can be split or merged."
                ),
            ));
        }
        Ok(index)
    }

    /// `SplitShard`: the parent closes, two children cover its range, split at `new_start`.
    pub(crate) fn split(
        &mut self,
        stream: &str,
        id: &str,
        new_start: u128,
        limits: &ShardLimits,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(usize, usize), ApiError> {
        let index = self.open_shard(id, stream)?;
        let range = self.shards[index].range;
        if new_start <= range.start || new_start > range.end {
            return Err(ApiError::invalid(format!(
                "NewStartingHashKey {new_start} used in SplitShard() on shard {id} in stream \
                 {stream} is not both greater than one plus the shard's StartingHashKey {} and \
                 less than the shard's EndingHashKey {}.",
                range.start, range.end
            )));
        }
        self.close(index, wall);
        let parent = Some(self.shards[index].id.clone());
        let left = HashKeyRange {
            start: range.start,
            end: new_start - 1,
        };
        let right = HashKeyRange {
            start: new_start,
            end: range.end,
        };
        let a = self.add_shard(left, parent.clone(), None, wall, limits, now);
        let b = self.add_shard(right, parent, None, wall, limits, now);
        Ok((a, b))
    }

    /// `MergeShards`: two adjacent open shards close, one child covers both ranges.
    pub(crate) fn merge(
        &mut self,
        stream: &str,
        id: &str,
        adjacent: &str,
        limits: &ShardLimits,
        now: Instant,
        wall: SystemTime,
    ) -> Result<usize, ApiError> {
        let a = self.open_shard(id, stream)?;
        let b = self.open_shard(adjacent, stream)?;
        let (ra, rb) = (self.shards[a].range, self.shards[b].range);
        let adjacent_ranges =
            ra.end.checked_add(1) == Some(rb.start) || rb.end.checked_add(1) == Some(ra.start);
        if !adjacent_ranges {
            return Err(ApiError::invalid(format!(
                "Shards {id} and {adjacent} in stream {stream} are not adjacent: their hash key \
                 ranges do not touch."
            )));
        }
        self.close(a, wall);
        self.close(b, wall);
        let range = HashKeyRange {
            start: ra.start.min(rb.start),
            end: ra.end.max(rb.end),
        };
        let parent = Some(self.shards[a].id.clone());
        let adjacent_parent = Some(self.shards[b].id.clone());
        Ok(self.add_shard(range, parent, adjacent_parent, wall, limits, now))
    }

    /// `UpdateShardCount` with uniform scaling, as AWS does it: splits and merges (through
    /// intermediate shards where the old and new boundaries do not line up) until the open
    /// shards are `target` equal ranges. Each new shard has one or two parents.
    pub(crate) fn scale_to(
        &mut self,
        stream: &str,
        target: u32,
        limits: &ShardLimits,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(), ApiError> {
        let boundaries: Vec<u128> = (1..target).map(|i| boundary(i, target)).collect();
        // Split every open shard at each new boundary strictly inside it.
        for index in self.open.clone() {
            let mut current = index;
            for &b in &boundaries {
                let range = self.shards[current].range;
                if range.start < b && b <= range.end {
                    let id = self.shards[current].id.clone();
                    let (_, right) = self.split(stream, &id, b, limits, now, wall)?;
                    current = right;
                }
            }
        }
        // Merge the pieces inside each new range, left to right.
        for i in 0..target {
            let start = boundary(i, target);
            loop {
                let pieces: Vec<usize> = self
                    .open
                    .iter()
                    .copied()
                    .filter(|&s| {
                        let r = self.shards[s].range;
                        r.start >= start && (i + 1 == target || r.end < boundary(i + 1, target))
                    })
                    .collect();
                if pieces.len() < 2 {
                    break;
                }
                let (a, b) = (
                    self.shards[pieces[0]].id.clone(),
                    self.shards[pieces[1]].id.clone(),
                );
                self.merge(stream, &a, &b, limits, now, wall)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::uniform;

    fn stream(shards: u32) -> Stream {
        Stream::new(
            Identity {
                name: "s".into(),
                region: "us-east-2".into(),
                arn: "arn:aws:kinesis:us-east-2:123456789012:stream/s".into(),
                created: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_633_600),
            },
            Settings {
                mode: StreamMode::Provisioned,
                retention_hours: 24,
                encryption_key: None,
                tags: BTreeMap::new(),
                max_record_kib: DEFAULT_MAX_RECORD_KIB,
            },
            &uniform(shards),
            ShardLimits::AWS,
            Instant::now(),
        )
    }

    fn open_ranges(state: &StreamState) -> Vec<HashKeyRange> {
        state.open.iter().map(|&i| state.shards[i].range).collect()
    }

    #[test]
    fn shard_ids_read_back() {
        assert_eq!(shard_id(7), "shardId-000000000007");
        assert_eq!(shard_index("shardId-000000000007"), Some(7));
        assert_eq!(shard_index("shardId-7"), None);
        assert_eq!(shard_index("7"), None);
    }

    #[tokio::test]
    async fn scaling_ends_with_uniform_open_shards_each_with_at_most_two_parents() {
        for (from, to) in [
            (2, 4),
            (4, 2),
            (2, 3),
            (3, 2),
            (5, 3),
            (3, 5),
            (1, 2),
            (4, 4),
        ] {
            let s = stream(from);
            let mut state = s.write();
            state
                .scale_to(
                    "s",
                    to,
                    &ShardLimits::AWS,
                    Instant::now(),
                    SystemTime::now(),
                )
                .expect("scales");
            assert_eq!(open_ranges(&state), uniform(to), "{from} -> {to}");
            for shard in &state.shards {
                let closed = shard.data().closed.is_some();
                assert_eq!(
                    closed,
                    !state.is_open(shard),
                    "{from} -> {to}: {}",
                    shard.id
                );
            }
        }
    }

    #[tokio::test]
    async fn two_to_four_splits_each_parent_in_two() {
        let s = stream(2);
        let mut state = s.write();
        state
            .scale_to("s", 4, &ShardLimits::AWS, Instant::now(), SystemTime::now())
            .expect("scales");
        let parents: Vec<(String, Option<String>)> = state.shards[2..]
            .iter()
            .map(|s| (s.id.clone(), s.parent.clone()))
            .collect();
        assert_eq!(
            parents,
            vec![
                (shard_id(2), Some(shard_id(0))),
                (shard_id(3), Some(shard_id(0))),
                (shard_id(4), Some(shard_id(1))),
                (shard_id(5), Some(shard_id(1))),
            ]
        );
        assert_eq!(state.children_of(&shard_id(1)).len(), 2);
    }

    #[tokio::test]
    async fn merging_needs_adjacent_open_shards() {
        let s = stream(3);
        let mut state = s.write();
        let now = Instant::now();
        let wall = SystemTime::now();
        let error = state
            .merge(
                "s",
                &shard_id(0),
                &shard_id(2),
                &ShardLimits::AWS,
                now,
                wall,
            )
            .expect_err("not adjacent");
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        let child = state
            .merge(
                "s",
                &shard_id(1),
                &shard_id(0),
                &ShardLimits::AWS,
                now,
                wall,
            )
            .expect("adjacent");
        assert_eq!(
            state.shards[child].parent.as_deref(),
            Some("shardId-000000000001")
        );
        assert_eq!(
            state.shards[child].adjacent_parent.as_deref(),
            Some("shardId-000000000000")
        );
        let again = state
            .split("s", &shard_id(0), 5, &ShardLimits::AWS, now, wall)
            .expect_err("closed");
        assert_eq!(again.code, ErrorCode::ResourceInUse);
    }
}
