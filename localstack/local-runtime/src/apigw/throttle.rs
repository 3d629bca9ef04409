//! API Gateway's throttling and quotas: a token bucket for the stage and one for each API key
//! whose usage plan throttles, and each key's count of requests in its quota period.
//!
//! A token bucket rather than a rate-limiting crate: the buckets API Gateway describes take
//! fractional rates and a burst of 0 (refuse everything), both of which `governor`'s quotas
//! cannot express, and a bucket is a few lines over [`tokio::time::Instant`], so a paused
//! clock drives it in tests.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use tokio::time::Instant;

use super::config::{ApiKey, Quota, QuotaPeriod, RestApiConfig, Throttle};

/// A bucket of `capacity` tokens refilled at `rate` per second; a request takes one.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// Full, as API Gateway's buckets start.
    pub(super) fn new(throttle: &Throttle, now: Instant) -> Self {
        let capacity = f64::from(throttle.burst_limit);
        TokenBucket {
            rate: throttle.rate_limit.max(0.0),
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token if there is one at `now`.
    pub(super) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A key's requests in its current quota period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QuotaCount {
    period_start: NaiveDate,
    used: u32,
}

impl QuotaCount {
    pub(super) fn new(quota: &Quota, now: DateTime<Utc>) -> Self {
        QuotaCount {
            period_start: period_start(quota.period, now),
            used: 0,
        }
    }

    /// Counts a request at `now` if the quota has room for it; a new period starts afresh.
    pub(super) fn try_take(&mut self, quota: &Quota, now: DateTime<Utc>) -> bool {
        let start = period_start(quota.period, now);
        if start != self.period_start {
            self.period_start = start;
            self.used = 0;
        }
        if self.used < quota.limit {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

/// The first day of the period holding `now`, in UTC.
fn period_start(period: QuotaPeriod, now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    match period {
        QuotaPeriod::Day => today,
        QuotaPeriod::Week => today
            .checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_sunday())))
            .unwrap_or(today),
        QuotaPeriod::Month => today.with_day(1).unwrap_or(today),
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// A bucket, the stage's or the key's, is empty: 429 `Too Many Requests`.
    Throttled,
    /// The key's quota for the period is used up: 429 `Limit Exceeded`.
    QuotaExceeded,
}

/// The stage's bucket and each key's bucket and quota count.
#[derive(Debug)]
pub(super) struct Limits {
    stage: Option<Mutex<TokenBucket>>,
    keys: Mutex<HashMap<String, KeyLimits>>,
}

#[derive(Debug)]
struct KeyLimits {
    bucket: Option<TokenBucket>,
    quota: Option<QuotaCount>,
}

impl Limits {
    pub(super) fn new(config: &RestApiConfig, now: Instant) -> Self {
        Limits {
            stage: config
                .stage_throttle
                .as_ref()
                .map(|t| Mutex::new(TokenBucket::new(t, now))),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a request at `now` (`wall` for quota periods): the stage's bucket, then the
    /// bucket and quota of `key`'s usage plan when the method takes a key.
    pub(super) fn admit(
        &self,
        key: Option<&ApiKey>,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<(), Refused> {
        if let Some(stage) = &self.stage {
            let mut bucket = stage.lock().unwrap_or_else(PoisonError::into_inner);
            if !bucket.try_take(now) {
                return Err(Refused::Throttled);
            }
        }
        let Some((key, plan)) = key.and_then(|k| k.usage_plan.as_ref().map(|p| (k, p))) else {
            return Ok(());
        };
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let limits = keys.entry(key.id.clone()).or_insert_with(|| KeyLimits {
            bucket: plan.throttle.as_ref().map(|t| TokenBucket::new(t, now)),
            quota: plan.quota.as_ref().map(|q| QuotaCount::new(q, wall)),
        });
        if let Some(bucket) = &mut limits.bucket
            && !bucket.try_take(now)
        {
            return Err(Refused::Throttled);
        }
        if let (Some(count), Some(quota)) = (&mut limits.quota, &plan.quota)
            && !count.try_take(quota, wall)
        {
            return Err(Refused::QuotaExceeded);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::config::UsagePlan;
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_takes_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(
            &Throttle {
                rate_limit: 2.0,
                burst_limit: 3,
            },
            start,
        );
        assert!((0..3).all(|_| bucket.try_take(start)), "the burst");
        assert!(!bucket.try_take(start), "then empty");
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!bucket.try_take(Instant::now()), "not a whole token yet");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(bucket.try_take(Instant::now()), "one token after 1/rate");
        assert!(!bucket.try_take(Instant::now()));
        tokio::time::advance(Duration::from_secs(60)).await;
        let refilled = (0..10).filter(|_| bucket.try_take(Instant::now())).count();
        assert_eq!(refilled, 3, "never more than the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_rates_and_a_zero_burst() {
        let start = Instant::now();
        let mut slow = TokenBucket::new(
            &Throttle {
                rate_limit: 0.5,
                burst_limit: 1,
            },
            start,
        );
        assert!(slow.try_take(start));
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(!slow.try_take(Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(slow.try_take(Instant::now()));

        let mut closed = TokenBucket::new(
            &Throttle {
                rate_limit: 100.0,
                burst_limit: 0,
            },
            start,
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            !closed.try_take(Instant::now()),
            "a burst of 0 admits nothing"
        );
    }

    #[test]
    fn quota_periods_start_at_midnight_utc_on_the_day_sunday_and_the_first() {
        // 2026-03-04 is a Wednesday.
        let now = at("2026-03-04T15:00:00Z");
        let start = |p| period_start(p, now).to_string();
        assert_eq!(start(QuotaPeriod::Day), "2026-03-04");
        assert_eq!(start(QuotaPeriod::Week), "2026-03-01");
        assert_eq!(start(QuotaPeriod::Month), "2026-03-01");
        assert_eq!(
            period_start(QuotaPeriod::Week, at("2026-03-01T00:00:00Z")).to_string(),
            "2026-03-01",
            "a Sunday starts its own week"
        );
    }

    #[test]
    fn a_quota_is_used_up_then_renewed_in_the_next_period() {
        let quota = Quota {
            limit: 2,
            period: QuotaPeriod::Day,
        };
        let day = at("2026-03-04T23:59:58Z");
        let mut count = QuotaCount::new(&quota, day);
        assert!(count.try_take(&quota, day));
        assert!(count.try_take(&quota, day));
        assert!(!count.try_take(&quota, at("2026-03-04T23:59:59Z")));
        assert!(
            count.try_take(&quota, at("2026-03-05T00:00:00Z")),
            "a new day"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_stage_bucket_comes_first_then_the_keys_bucket_then_its_quota() {
        let key = |id: &str, plan| ApiKey {
            id: id.to_owned(),
            name: id.to_owned(),
            value: format!("{id}-value-of-twenty-characters"),
            enabled: true,
            usage_plan: plan,
        };
        let plan = UsagePlan {
            id: "plan".to_owned(),
            name: "plan".to_owned(),
            throttle: Some(Throttle {
                rate_limit: 1.0,
                burst_limit: 2,
            }),
            quota: Some(Quota {
                limit: 3,
                period: QuotaPeriod::Month,
            }),
        };
        let mut config = RestApiConfig::new("prod", Vec::new());
        config.stage_throttle = Some(Throttle {
            rate_limit: 100.0,
            burst_limit: 4,
        });
        let limits = Limits::new(&config, Instant::now());
        let a = key("a", Some(plan.clone()));
        let b = key("b", Some(plan));
        let wall = at("2026-03-04T12:00:00Z");
        let admit = |k: &ApiKey| limits.admit(Some(k), Instant::now(), wall);

        assert_eq!(admit(&a), Ok(()));
        assert_eq!(admit(&a), Ok(()));
        assert_eq!(admit(&a), Err(Refused::Throttled), "a's burst of 2");
        assert_eq!(admit(&b), Ok(()), "b has its own bucket");
        assert_eq!(
            admit(&b),
            Err(Refused::Throttled),
            "the stage's burst of 4 is spent"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(admit(&a), Ok(()), "the third of a's quota");
        assert_eq!(admit(&a), Err(Refused::QuotaExceeded));
        assert_eq!(
            limits.admit(None, Instant::now(), wall),
            Ok(()),
            "a method without a key meets the stage's bucket only"
        );
    }
}
