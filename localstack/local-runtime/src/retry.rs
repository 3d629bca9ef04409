//! Waiting between attempts, and noticing a stop meanwhile.

use std::time::Duration;

use tokio::sync::watch;

/// Exponential backoff: each delay doubles, up to a ceiling.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// Delays starting at `first`, never above `max`.
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            next: first,
            max,
            attempts: 0,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        self.attempts += 1;
        delay
    }

    /// Starts again from the first delay, after a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
        self.attempts = 0;
    }

    /// The delays given since the start or the last reset.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Resolves once `stop` holds `true`, or its sender is gone.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: nobody can ask to keep running.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Sleeps for `delay` unless a stop comes first; returns whether it did.
pub(crate) async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = stopped(stop) => true,
        () = tokio::time::sleep(delay) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<_> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_stop_ends_the_sleep_and_a_dropped_sender_counts_as_stop() {
        let (tx, mut rx) = watch::channel(false);
        tx.send_replace(true);
        assert!(sleep_or_stop(Duration::from_secs(3600), &mut rx).await);
        let (tx, mut rx) = watch::channel(false);
        drop(tx);
        assert!(sleep_or_stop(Duration::from_secs(3600), &mut rx).await);
        let (_tx, mut rx) = watch::channel(false);
        assert!(!sleep_or_stop(Duration::from_millis(1), &mut rx).await);
    }
}
