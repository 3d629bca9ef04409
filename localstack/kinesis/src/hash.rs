//! Hash keys: a record goes to the shard whose hash key range holds the MD5 of its partition key
//! (as a 128-bit big-endian integer), or its `ExplicitHashKey`.

use md5::{Digest, Md5};

/// An inclusive range of hash keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashKeyRange {
    pub start: u128,
    pub end: u128,
}

impl HashKeyRange {
    /// The whole key space.
    pub const ALL: HashKeyRange = HashKeyRange {
        start: 0,
        end: u128::MAX,
    };

    pub fn contains(&self, key: u128) -> bool {
        self.start <= key && key <= self.end
    }
}

/// The hash key of a partition key: its MD5, big-endian.
pub fn hash_key_of(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// An `ExplicitHashKey`: a decimal integer from 0 to 2^128 - 1.
pub fn parse_hash_key(text: &str) -> Option<u128> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Where the `index`-th of `count` equal ranges starts: floor(index * 2^128 / count), the
/// boundaries AWS gives a new stream's shards and `UpdateShardCount`'s uniform scaling.
pub fn boundary(index: u32, count: u32) -> u128 {
    debug_assert!(count > 0 && index <= count);
    if index == 0 {
        return 0;
    }
    let count = u128::from(count);
    let index = u128::from(index);
    // 2^128 = q * count + r, without 2^128 in a u128.
    let (mut q, mut r) = (u128::MAX / count, u128::MAX % count + 1);
    if r == count {
        q += 1;
        r = 0;
    }
    index * q + index * r / count
}

/// `count` equal ranges covering the key space, in order.
pub fn uniform(count: u32) -> Vec<HashKeyRange> {
    (0..count)
        .map(|i| HashKeyRange {
            start: boundary(i, count),
            end: if i + 1 == count {
                u128::MAX
            } else {
                boundary(i + 1, count) - 1
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_the_ones_aws_gives() {
        let two = uniform(2);
        assert_eq!(
            two[0].end,
            170_141_183_460_469_231_731_687_303_715_884_105_727
        );
        assert_eq!(
            two[1].start,
            170_141_183_460_469_231_731_687_303_715_884_105_728
        );
        let three = uniform(3);
        assert_eq!(
            three[0].end,
            113_427_455_640_312_821_154_458_202_477_256_070_484
        );
        assert_eq!(
            three[1].start,
            113_427_455_640_312_821_154_458_202_477_256_070_485
        );
        assert_eq!(
            three[2].start,
            226_854_911_280_625_642_308_916_404_954_512_140_970
        );
        assert_eq!(three[2].end, u128::MAX);
        assert_eq!(uniform(1), vec![HashKeyRange::ALL]);
    }

    #[test]
    fn uniform_ranges_tile_the_key_space() {
        for count in [1, 2, 3, 4, 5, 7, 8, 100, 10_000] {
            let ranges = uniform(count);
            assert_eq!(ranges.len(), count as usize);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().map(|r| r.end), Some(u128::MAX));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end + 1, pair[1].start, "{count}");
            }
        }
    }

    #[test]
    fn partition_keys_hash_with_md5() {
        // md5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(hash_key_of("a"), 0x0cc1_75b9_c0f1_b6a8_31c3_99e2_6977_2661);
        assert_eq!(parse_hash_key("0"), Some(0));
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211455"),
            Some(u128::MAX)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "340282366920938463463374607431768211456",
            " 1",
        ] {
            assert_eq!(parse_hash_key(bad), None, "{bad:?}");
        }
    }
}
