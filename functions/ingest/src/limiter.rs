//! At most one malformed-events alert per interval from one execution environment, so a flood
//! of bad input cannot become a flood of e-mail.
//!
//! The first refusal an environment sees is alerted at once; after an alert, the limiter stays
//! closed for the interval ([`event_contract::env::ALERT_INTERVAL_SECONDS`], default
//! [`event_contract::env::DEFAULT_ALERT_INTERVAL_SECONDS`]). Refusals while it is closed are
//! counted, and the next alert carries the count (`"suppressed"`); an alert that could not be
//! published puts its own refusal and what it carried back into the count. Each suppressed
//! refusal is still logged by the handler, kept in S3 and counted in the metrics: nothing is
//! dropped, only the e-mail is spared.
//!
//! The bound on the topic is per environment: all of ingest sends at most `environments ×
//! 1/interval` alerts (plus one per environment started), and the stack caps the number of
//! environments with ingest's reserved concurrency. The limiter uses tokio's clock, so tests
//! run it on a paused one.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use event_contract::alert::Suppressed;
use tokio::time::Instant;

/// What to do with one refusal's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it now, carrying the refusals held back since the last alert, if any.
    Send {
        /// The refusals held back; the limiter no longer counts them.
        suppressed: Option<Suppressed>,
    },
    /// Do not send it: it has been counted into the next alert.
    Hold,
}

/// One execution environment's alert limiter.
#[derive(Debug)]
pub struct AlertLimiter {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the last alert was admitted.
    last: Option<Instant>,
    /// The refusals held back since.
    held: Option<Suppressed>,
}

impl AlertLimiter {
    /// A limiter letting one alert through per `interval`, open at first.
    pub fn new(interval: Duration) -> Self {
        AlertLimiter {
            interval,
            state: Mutex::new(State::default()),
        }
    }

    /// The shortest time between two alerts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Decides on the alert for one refused request with `malformed` malformed events,
    /// received at `received`: sent now, or counted into the next.
    pub fn admit(&self, malformed: u64, received: DateTime<Utc>) -> Admission {
        let now = Instant::now();
        let mut state = self.lock();
        match state.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                hold(&mut state.held, Suppressed::one(malformed, received));
                Admission::Hold
            }
            _ => {
                state.last = Some(now);
                Admission::Send {
                    suppressed: state.held.take(),
                }
            }
        }
    }

    /// Counts an admitted alert that was not published into the next one: its own refusal
    /// (`malformed` events, received at `received`) and the refusals it carried.
    pub fn requeue(&self, carried: Option<Suppressed>, malformed: u64, received: DateTime<Utc>) {
        let mut state = self.lock();
        hold(&mut state.held, Suppressed::one(malformed, received));
        if let Some(carried) = carried {
            hold(&mut state.held, carried);
        }
    }

    /// The refusals held back so far, for the next alert.
    pub fn held(&self) -> Option<Suppressed> {
        self.lock().held
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn hold(held: &mut Option<Suppressed>, more: Suppressed) {
    match held {
        Some(held) => held.merge(&more),
        None => *held = Some(more),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_730_894_400 + seconds, 0).unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn one_alert_per_interval_and_the_rest_counted_into_the_next() {
        let limiter = AlertLimiter::new(Duration::from_secs(60));
        assert_eq!(
            limiter.admit(2, at(0)),
            Admission::Send { suppressed: None },
            "the first refusal is alerted at once"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limiter.admit(3, at(10)), Admission::Hold);
        tokio::time::advance(Duration::from_secs(49)).await;
        assert_eq!(limiter.admit(1, at(59)), Admission::Hold);
        assert_eq!(
            limiter.held(),
            Some(Suppressed {
                requests: 2,
                events: 4,
                since: at(10)
            })
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            limiter.admit(5, at(60)),
            Admission::Send {
                suppressed: Some(Suppressed {
                    requests: 2,
                    events: 4,
                    since: at(10)
                })
            }
        );
        assert_eq!(
            limiter.held(),
            None,
            "what an alert carries is no longer held"
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(limiter.admit(1, at(119)), Admission::Hold);
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_of_refusals_every_second_sends_sixty_alerts() {
        let limiter = AlertLimiter::new(Duration::from_secs(60));
        let mut sent = 0;
        let mut carried = 0;
        for second in 0..3600 {
            if let Admission::Send { suppressed } = limiter.admit(1, at(second)) {
                sent += 1;
                carried += suppressed.map_or(0, |s| s.requests);
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(sent, 60);
        let held = limiter.held().map_or(0, |s| s.requests);
        assert_eq!(
            sent + carried + held,
            3600,
            "every refusal is accounted for"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_alert_not_published_is_counted_into_the_next() {
        let limiter = AlertLimiter::new(Duration::from_secs(60));
        let carried = Suppressed {
            requests: 4,
            events: 9,
            since: at(-30),
        };
        limiter.requeue(Some(carried), 2, at(0));
        limiter.requeue(None, 1, at(5));
        assert_eq!(
            limiter.held(),
            Some(Suppressed {
                requests: 6,
                events: 12,
                since: at(-30)
            })
        );
    }
}
