//! Time as the service sees it: rates are measured on tokio's clock, so a test with a paused
//! clock decides when a second has passed; wall-clock times (arrival timestamps, iterator ages)
//! follow the same clock from the instant the service started.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The service's clock: tokio's monotonic clock, anchored to the wall clock at start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: SystemTime,
    at: Instant,
}

impl Clock {
    /// A clock anchored at the current instant.
    pub fn new() -> Clock {
        Clock {
            wall: SystemTime::now(),
            at: Instant::now(),
        }
    }

    /// Now, on the monotonic clock.
    pub fn instant(&self) -> Instant {
        Instant::now()
    }

    /// The wall-clock time of `instant`.
    pub fn wall_at(&self, instant: Instant) -> SystemTime {
        self.wall + instant.saturating_duration_since(self.at)
    }

    /// Now, on the wall clock.
    pub fn wall(&self) -> SystemTime {
        self.wall_at(Instant::now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Seconds since the epoch, with fractions: the wire's timestamp format.
pub(crate) fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Milliseconds since the epoch.
pub(crate) fn epoch_millis(time: SystemTime) -> u64 {
    u64::try_from(
        time.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The time of a wire timestamp; `None` when it is not a finite, non-negative number.
pub(crate) fn from_epoch_seconds(seconds: f64) -> Option<SystemTime> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(seconds)
        .ok()
        .map(|d| UNIX_EPOCH + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_wall_clock_follows_a_paused_clock() {
        let clock = Clock::new();
        let before = clock.wall();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(
            clock.wall().duration_since(before).expect("later"),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn wire_timestamps_round_trip_and_refuse_nonsense() {
        let at = UNIX_EPOCH + Duration::from_millis(1_764_633_600_250);
        assert_eq!(epoch_millis(at), 1_764_633_600_250);
        let back = from_epoch_seconds(epoch_seconds(at)).expect("a time");
        assert_eq!(epoch_millis(back), 1_764_633_600_250);
        assert_eq!(from_epoch_seconds(-1.0), None);
        assert_eq!(from_epoch_seconds(f64::NAN), None);
    }
}
