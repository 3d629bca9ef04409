//! Shard iterators: opaque to clients (base64), valid for 5 minutes after they are issued.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ApiError, ErrorCode};

/// How long an iterator may be used after it was issued.
pub const ITERATOR_TTL_MILLIS: u64 = 300_000;

const VERSION: &str = "lk1";

/// Where an iterator points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardIterator {
    pub(crate) region: String,
    pub(crate) stream: String,
    pub(crate) shard: u32,
    /// The position of the next record to read.
    pub(crate) position: u64,
    /// When it was issued, in milliseconds since the epoch.
    pub(crate) issued_millis: u64,
}

impl ShardIterator {
    pub(crate) fn encode(&self) -> String {
        let text = format!(
            "{VERSION}|{}|{}|{}|{}|{}",
            self.region, self.stream, self.shard, self.position, self.issued_millis
        );
        STANDARD.encode(text)
    }

    pub(crate) fn decode(text: &str) -> Result<ShardIterator, ApiError> {
        let invalid = || ApiError::invalid(format!("Invalid ShardIterator: {text:?}."));
        let bytes = STANDARD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let parts: Vec<&str> = text.split('|').collect();
        let [VERSION, region, stream, shard, position, issued] = parts[..] else {
            return Err(invalid());
        };
        Ok(ShardIterator {
            region: region.to_owned(),
            stream: stream.to_owned(),
            shard: shard.parse().map_err(|_| invalid())?,
            position: position.parse().map_err(|_| invalid())?,
            issued_millis: issued.parse().map_err(|_| invalid())?,
        })
    }

    /// Refused with AWS's message once older than five minutes.
    pub(crate) fn check_fresh(&self, now_millis: u64) -> Result<(), ApiError> {
        if now_millis.saturating_sub(self.issued_millis) > ITERATOR_TTL_MILLIS {
            return Err(ApiError::new(
                ErrorCode::ExpiredIterator,
                format!(
                    "Iterator expired. The iterator was created at time {} while right now it \
                     is {} which is further in the future than the tolerated delay of \
                     {ITERATOR_TTL_MILLIS} milliseconds.",
                    self.issued_millis, now_millis
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterators_round_trip_expire_and_refuse_garbage() {
        let it = ShardIterator {
            region: "us-east-2".into(),
            stream: "events".into(),
            shard: 3,
            position: 17,
            issued_millis: 1_000,
        };
        assert_eq!(ShardIterator::decode(&it.encode()), Ok(it.clone()));
        assert!(it.check_fresh(301_000).is_ok());
        assert_eq!(
            it.check_fresh(301_001).map_err(|e| e.code),
            Err(ErrorCode::ExpiredIterator)
        );
        for bad in ["", "!!!", "aGVsbG8=", &STANDARD.encode("lk1|a|b|c|d|e")] {
            assert_eq!(
                ShardIterator::decode(bad).map_err(|e| e.code),
                Err(ErrorCode::InvalidArgument),
                "{bad}"
            );
        }
    }
}
