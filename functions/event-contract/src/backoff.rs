//! The retry policy both functions use: exponential backoff with full jitter, bounded by a
//! number of retries and by the time left before the invocation's deadline.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Exponential backoff with full jitter: retry `n` waits a uniform random time in
/// `[0, min(cap, base·2ⁿ⁻¹)]`. No retry starts unless, after its wait, `reserve` is still left
/// before the deadline for the attempt itself and for answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The longest wait before the first retry.
    pub base: Duration,
    /// The longest wait before any retry.
    pub cap: Duration,
    /// How many retries at most, after the first attempt.
    pub max_retries: u32,
    /// Time kept free before the deadline.
    pub reserve: Duration,
}

impl Default for Backoff {
    /// 50 ms doubling to 2 s, 8 retries (at most about 7 s of waiting), 1 s kept in reserve.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            max_retries: 8,
            reserve: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// When an attempt still in flight is abandoned: half the reserve before the deadline, so
    /// a slow call (the SDK retries inside it too) cannot keep the function past its deadline.
    pub fn cutoff(&self, deadline: Instant) -> Instant {
        deadline.checked_sub(self.reserve / 2).unwrap_or(deadline)
    }

    /// The wait before retry number `retry` (1 for the first), with `remaining` time before the
    /// deadline; `None` when there is no retry left or no time for one.
    pub fn delay(&self, retry: u32, remaining: Duration) -> Option<Duration> {
        self.delay_with(retry, remaining, fastrand::f64())
    }

    /// [`Backoff::delay`] with the jitter given: `unit` in `[0, 1]` picks the point in the
    /// jitter range (0 waits nothing, 1 waits the full exponential delay).
    pub fn delay_with(&self, retry: u32, remaining: Duration, unit: f64) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        let doubling = 1u32.checked_shl(retry - 1).unwrap_or(u32::MAX);
        let ceiling = self.base.saturating_mul(doubling).min(self.cap);
        let wait = Duration::try_from_secs_f64(ceiling.as_secs_f64() * unit.clamp(0.0, 1.0))
            .map_or(ceiling, |wait| wait.min(ceiling));
        (wait.saturating_add(self.reserve) <= remaining).then_some(wait)
    }
}

/// The [`Instant`] of a wall-clock deadline (a Lambda invocation's), for measuring the time
/// left on tokio's clock; a deadline already past is now.
pub fn deadline_from(at: SystemTime) -> Instant {
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_measured_from_now() {
        let start = Instant::now();
        let deadline = deadline_from(SystemTime::now() + Duration::from_secs(60));
        let left = deadline - start;
        assert!(
            left > Duration::from_secs(59) && left <= Duration::from_secs(61),
            "{left:?}"
        );
        let past = deadline_from(SystemTime::UNIX_EPOCH);
        assert!(past <= Instant::now());
    }

    const PLENTY: Duration = Duration::from_secs(600);

    #[test]
    fn waits_double_up_to_the_cap() {
        let b = Backoff::default();
        let full: Vec<_> = (1..=8)
            .filter_map(|n| b.delay_with(n, PLENTY, 1.0))
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(full, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn jitter_spreads_waits_between_zero_and_the_ceiling() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(3, PLENTY, 0.0), Some(Duration::ZERO));
        assert_eq!(
            b.delay_with(3, PLENTY, 0.5),
            Some(Duration::from_millis(100))
        );
        for _ in 0..100 {
            let wait = b.delay(3, PLENTY).unwrap_or(Duration::MAX);
            assert!(wait <= Duration::from_millis(200), "{wait:?}");
        }
    }

    #[test]
    fn retries_are_bounded_in_number() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(0, PLENTY, 1.0), None);
        assert!(b.delay_with(8, PLENTY, 1.0).is_some());
        assert_eq!(b.delay_with(9, PLENTY, 1.0), None);
        assert_eq!(b.delay_with(u32::MAX, PLENTY, 1.0), None);
    }

    #[test]
    fn no_retry_without_time_for_the_wait_and_the_reserve() {
        let b = Backoff::default();
        // Retry 4 waits 400 ms at most; with the 1 s reserve it needs 1.4 s left.
        assert!(b.delay_with(4, Duration::from_millis(1400), 1.0).is_some());
        assert_eq!(b.delay_with(4, Duration::from_millis(1399), 1.0), None);
        assert_eq!(b.delay_with(1, Duration::from_millis(999), 0.0), None);
    }

    #[test]
    fn huge_settings_saturate_instead_of_overflowing() {
        let b = Backoff {
            base: Duration::MAX,
            cap: Duration::MAX,
            max_retries: 100,
            reserve: Duration::ZERO,
        };
        assert_eq!(b.delay_with(64, Duration::MAX, 1.0), Some(Duration::MAX));
    }
}
