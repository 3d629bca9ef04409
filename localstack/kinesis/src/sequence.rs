//! Sequence numbers, shaped as AWS's: 56 decimal digits, increasing within a shard. Ours encode
//! the stream's creation time, the shard's index and the record's position in the shard, so a
//! number given back (`AT_SEQUENCE_NUMBER`) finds its record, and a number of another shard is
//! refused as AWS refuses it.

use std::fmt;

/// The digits of a sequence number.
pub const DIGITS: usize = 56;

/// A sequence number: `49`, the stream's creation second (10 digits), the shard's index
/// (6 digits), 18 zeros, the record's position in the shard (20 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SequenceNumber {
    /// The stream's creation time in seconds since the epoch, modulo 10^10.
    pub epoch: u64,
    /// The shard's index: `shardId-000000000007` is 7.
    pub shard: u32,
    /// The record's position in the shard, from 1; 0 is the shard's starting sequence number.
    pub position: u64,
}

const PREFIX: &str = "49";
const FILL: &str = "000000000000000000";

impl SequenceNumber {
    /// Reads a number this service wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<SequenceNumber> {
        if text.len() != DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let rest = text.strip_prefix(PREFIX)?;
        let (epoch, rest) = rest.split_at(10);
        let (shard, rest) = rest.split_at(6);
        let (fill, position) = rest.split_at(FILL.len());
        if fill != FILL {
            return None;
        }
        Some(SequenceNumber {
            epoch: epoch.parse().ok()?,
            shard: shard.parse().ok()?,
            position: position.parse().ok()?,
        })
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{:010}{:06}{FILL}{:020}",
            self.epoch % 10_000_000_000,
            self.shard % 1_000_000,
            self.position
        )
    }
}

/// Whether `text` is a sequence number at all: 1 to 128 decimal digits.
pub fn is_well_formed(text: &str) -> bool {
    (1..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_56_digits_and_read_back() {
        let n = SequenceNumber {
            epoch: 1_764_633_600,
            shard: 3,
            position: 42,
        };
        let text = n.to_string();
        assert_eq!(text.len(), DIGITS);
        assert_eq!(
            text,
            "49176463360000000300000000000000000000000000000000000042"
        );
        assert_eq!(SequenceNumber::parse(&text), Some(n));
        assert_eq!(SequenceNumber::parse("42"), None);
        assert_eq!(SequenceNumber::parse(&text.replace("49", "50")), None);
    }

    #[test]
    fn numbers_order_as_their_text_within_a_shard_and_across_children() {
        let at = |shard, position| {
            SequenceNumber {
                epoch: 1_764_633_600,
                shard,
                position,
            }
            .to_string()
        };
        assert!(at(0, 9) < at(0, 10));
        assert!(
            at(0, 99_999) < at(2, 1),
            "a child's numbers follow its parent's"
        );
        assert!(is_well_formed(&at(0, 1)));
        assert!(!is_well_formed("12a"));
        assert!(!is_well_formed(""));
    }
}
