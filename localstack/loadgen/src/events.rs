//! The events of a run, made from the event contract.
//!
//! Each request `r` draws from its own random generator, seeded from the run's seed and `r`,
//! so a seed reproduces every request's events (their type, size, user, session, metrics and
//! which are malformed) whatever order the requests are sent in; only `timestamp`, the time
//! the request is made, differs between runs.
//!
//! - **Event ids**: `lg-<seed, 16 hex digits>-<request, 7 digits>-<position, 3 digits>`,
//!   unique within a run; the metrics table's partition key is the `event_id`, so the
//!   exactly-once check looks each one up. Two runs with one seed send the same ids.
//! - **Types**: `metrics_reported` 50%, `heartbeat` 20%, `session_started` and
//!   `session_ended` 8% each, `error_reported` 9%, `alert_raised` 5%.
//! - **Partition keys**: ingest keys a record by `payload.session_id`, else `user_id`. The
//!   pool is `users` users (`u-00042`), each with `sessions_per_user` sessions
//!   (`s-00042-1`); a user is chosen uniformly or by a Zipf law (user k with weight
//!   `1/k^exponent`: a few busy users, a long tail, as real traffic and hot shards look), and
//!   a session uniformly among the user's.
//! - **Malformed**: a share of *requests* ([`EventsConfig::malformed_share`]) carries one
//!   malformed event at a random position. Ingest refuses a request with any malformed event
//!   whole (400), so a per-event share would refuse nearly every request of many events; per
//!   request, the share is the share of 400s.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use event_contract::EventType;
use serde_json::{Value, json};

use crate::Error;

/// The most events in one request: ingest's limit.
pub const MAX_EVENTS_PER_REQUEST: u16 = 500;

/// The most users in the pool (the Zipf law keeps a weight for each).
pub const MAX_USERS: u32 = 1_000_000;
/// The most sessions of a user.
pub const MAX_SESSIONS_PER_USER: u32 = 1000;

/// How many events each request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerRequest {
    /// Always this many.
    Fixed(u16),
    /// Uniformly from `min` to `max`, both included.
    Range { min: u16, max: u16 },
}

impl PerRequest {
    /// The mean number of events per request.
    pub fn mean(&self) -> f64 {
        match *self {
            PerRequest::Fixed(n) => f64::from(n),
            PerRequest::Range { min, max } => (f64::from(min) + f64::from(max)) / 2.0,
        }
    }
}

impl fmt::Display for PerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerRequest::Fixed(n) => write!(f, "{n}"),
            PerRequest::Range { min, max } => write!(f, "{min}..{max}"),
        }
    }
}

impl FromStr for PerRequest {
    type Err = Error;

    /// `N` or `MIN..MAX`, each from 1 to 500.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::EventsPerRequest {
            value: text.to_owned(),
        };
        let count = |t: &str| {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=MAX_EVENTS_PER_REQUEST).contains(n))
                .ok_or_else(bad)
        };
        match text.split_once("..") {
            None => Ok(PerRequest::Fixed(count(text)?)),
            Some((min, max)) => {
                let (min, max) = (count(min)?, count(max)?);
                if min > max {
                    return Err(bad());
                }
                Ok(PerRequest::Range { min, max })
            }
        }
    }
}

/// How users are picked from the pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserChoice {
    /// Every user equally often.
    Uniform,
    /// User `k` (from 1) with weight `1 / k^exponent`.
    Zipf { exponent: f64 },
}

impl fmt::Display for UserChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserChoice::Uniform => f.write_str("uniform"),
            UserChoice::Zipf { exponent } => write!(f, "zipf:{exponent}"),
        }
    }
}

impl FromStr for UserChoice {
    type Err = Error;

    /// `uniform`, `zipf` (exponent 1) or `zipf:EXPONENT` (0 to 10).
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::UserChoice {
            value: text.to_owned(),
        };
        match text.split_once(':') {
            None if text == "uniform" => Ok(UserChoice::Uniform),
            None if text == "zipf" => Ok(UserChoice::Zipf { exponent: 1.0 }),
            Some(("zipf", e)) => {
                let exponent: f64 = e.parse().map_err(|_| bad())?;
                if !(0.0..=10.0).contains(&exponent) {
                    return Err(bad());
                }
                Ok(UserChoice::Zipf { exponent })
            }
            _ => Err(bad()),
        }
    }
}

/// What the events of a run look like.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    /// Events per request. Default 10.
    pub per_request: PerRequest,
    /// The share of requests, from 0 to 1, that carry one malformed event. Default 0.
    pub malformed_share: f64,
    /// Users in the pool. Default 1,000.
    pub users: u32,
    /// Sessions of each user. Default 3.
    pub sessions_per_user: u32,
    /// How users are picked. Default Zipf with exponent 1.
    pub user_choice: UserChoice,
    /// Makes the run's events reproducible. Default 0 (the CLI picks one at random and
    /// reports it).
    pub seed: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            per_request: PerRequest::Fixed(10),
            malformed_share: 0.0,
            users: 1000,
            sessions_per_user: 3,
            user_choice: UserChoice::Zipf { exponent: 1.0 },
            seed: 0,
        }
    }
}

/// One event of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// Its `event_id`.
    pub id: String,
    /// Whether the contract accepts it.
    pub valid: bool,
    /// The event, as JSON.
    pub json: String,
}

/// Makes the events of a run's requests; see the module documentation.
#[derive(Debug, Clone)]
pub struct Generator {
    config: EventsConfig,
    /// The Zipf law's cumulative weights, normalized; empty for a uniform choice.
    cdf: Vec<f64>,
}

/// The event types with their weights (out of 100).
const TYPE_WEIGHTS: [(EventType, u32); 6] = [
    (EventType::MetricsReported, 50),
    (EventType::Heartbeat, 20),
    (EventType::SessionStarted, 8),
    (EventType::SessionEnded, 8),
    (EventType::ErrorReported, 9),
    (EventType::AlertRaised, 5),
];

/// The ways an event is made malformed, each a rule of the contract broken.
const MALFORMED_KINDS: usize = 8;

impl Generator {
    /// A generator for `config`, which it checks.
    pub fn new(config: &EventsConfig) -> Result<Generator, Error> {
        if !(0.0..=1.0).contains(&config.malformed_share) {
            return Err(Error::MalformedShare {
                value: config.malformed_share,
            });
        }
        if !(1..=MAX_USERS).contains(&config.users)
            || !(1..=MAX_SESSIONS_PER_USER).contains(&config.sessions_per_user)
        {
            return Err(Error::Pool {
                users: config.users,
                sessions_per_user: config.sessions_per_user,
            });
        }
        let (min, max) = match config.per_request {
            PerRequest::Fixed(n) => (n, n),
            PerRequest::Range { min, max } => (min, max),
        };
        if min == 0 || max > MAX_EVENTS_PER_REQUEST || min > max {
            return Err(Error::EventsPerRequest {
                value: config.per_request.to_string(),
            });
        }
        let cdf = match config.user_choice {
            UserChoice::Uniform => Vec::new(),
            UserChoice::Zipf { exponent } => {
                let weights: Vec<f64> = (1..=config.users)
                    .map(|k| 1.0 / f64::from(k).powf(exponent))
                    .collect();
                let total: f64 = weights.iter().sum();
                let mut acc = 0.0;
                weights
                    .iter()
                    .map(|w| {
                        acc += w / total;
                        acc
                    })
                    .collect()
            }
        };
        Ok(Generator {
            config: config.clone(),
            cdf,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    /// The prefix of every `event_id` of the run.
    pub fn id_prefix(&self) -> String {
        id_prefix(self.config.seed)
    }

    fn rng(&self, request: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(splitmix(self.config.seed ^ splitmix(request)))
    }

    /// How many events request `request` carries, and the position of its malformed event
    /// if it has one: what [`Generator::request`] makes, without making it.
    pub fn shape(&self, request: u64) -> (usize, Option<usize>) {
        self.draw_shape(&mut self.rng(request))
    }

    /// How many events request `request` carries.
    pub fn count(&self, request: u64) -> usize {
        self.shape(request).0
    }

    fn draw_shape(&self, rng: &mut fastrand::Rng) -> (usize, Option<usize>) {
        let count = usize::from(match self.config.per_request {
            PerRequest::Fixed(n) => n,
            PerRequest::Range { min, max } => rng.u16(min..=max),
        });
        let malformed_at = (rng.f64() < self.config.malformed_share).then(|| rng.usize(..count));
        (count, malformed_at)
    }

    /// The events of request `request`, stamped `now`.
    pub fn request(&self, request: u64, now: DateTime<Utc>) -> Vec<GeneratedEvent> {
        let mut rng = self.rng(request);
        let (count, malformed_at) = self.draw_shape(&mut rng);
        let timestamp = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        (0..count)
            .map(|i| {
                let id = event_id(self.config.seed, request, i);
                let mut event = self.valid_event(&mut rng, &id, &timestamp);
                let valid = malformed_at != Some(i);
                if !valid {
                    let kind = rng.usize(..MALFORMED_KINDS);
                    break_rule(&mut event, kind);
                }
                GeneratedEvent {
                    id,
                    valid,
                    json: event.to_string(),
                }
            })
            .collect()
    }

    fn user(&self, rng: &mut fastrand::Rng) -> u32 {
        if self.cdf.is_empty() {
            return rng.u32(..self.config.users);
        }
        let x = rng.f64();
        let k = self.cdf.partition_point(|c| *c < x);
        u32::try_from(k.min(self.cdf.len() - 1)).unwrap_or(0)
    }

    fn valid_event(&self, rng: &mut fastrand::Rng, id: &str, timestamp: &str) -> Value {
        let mut pick = rng.u32(..100);
        let mut event_type = EventType::Heartbeat;
        for (t, weight) in TYPE_WEIGHTS {
            if pick < weight {
                event_type = t;
                break;
            }
            pick -= weight;
        }
        let user = self.user(rng);
        let session = rng.u32(..self.config.sessions_per_user) + 1;
        let user_id = format!("u-{user:05}");
        let session_id = format!("s-{user:05}-{session}");
        let payload = match event_type {
            EventType::SessionStarted => {
                json!({"session_id": session_id, "user_id": user_id, "client": "loadgen"})
            }
            EventType::SessionEnded => {
                json!({"session_id": session_id, "user_id": user_id, "duration_s": rng.u32(1..3600)})
            }
            EventType::ErrorReported => {
                json!({"session_id": session_id, "user_id": user_id, "code": format!("E{}", rng.u32(100..600)), "message": "volume detached"})
            }
            EventType::AlertRaised => {
                let level = ["low", "medium", "high"][rng.usize(..3)];
                json!({"user_id": user_id, "level": level, "message": "iops above threshold"})
            }
            EventType::MetricsReported | EventType::Heartbeat => {
                json!({"session_id": session_id, "user_id": user_id})
            }
        };
        let mut event = json!({
            "event_id": id,
            "event_type": event_type.as_str(),
            "timestamp": timestamp,
            "payload": payload,
        });
        if event_type == EventType::MetricsReported {
            event["metrics"] = json!({
                "iops": rng.u32(0..20_000),
                "latency": f64::from(rng.u32(1..50_000)) / 100.0,
                "errorRate": f64::from(rng.u32(0..=10_000)) / 100.0,
            });
        }
        event
    }
}

/// Breaks one rule of the contract in a valid event, keeping its `event_id`.
fn break_rule(event: &mut Value, kind: usize) {
    let Some(fields) = event.as_object_mut() else {
        return;
    };
    match kind {
        0 => {
            fields.remove("event_type");
        }
        1 => {
            fields.insert("event_type".into(), json!("metric_reported"));
        }
        2 => {
            fields.insert("timestamp".into(), json!("yesterday"));
        }
        3 => {
            fields.remove("payload");
        }
        4 => {
            fields.insert("event_type".into(), json!("session_started"));
            fields.insert("payload".into(), json!({"user_id": "u-00000"}));
        }
        5 => {
            fields.insert("event_type".into(), json!("metrics_reported"));
            fields.remove("metrics");
        }
        6 => {
            fields.insert("metrics".into(), json!({"errorRate": 150}));
        }
        _ => {
            fields.insert("metrics".into(), json!({"iops": -5}));
        }
    }
}

/// The prefix of the event ids of a run with `seed`.
pub fn id_prefix(seed: u64) -> String {
    format!("lg-{seed:016x}-")
}

/// The `event_id` of position `index` of request `request`.
pub fn event_id(seed: u64, request: u64, index: usize) -> String {
    format!("lg-{seed:016x}-{request:07}-{index:03}")
}

/// A request's events as the JSON array ingest takes.
pub fn body<'a>(events: impl IntoIterator<Item = &'a GeneratedEvent>) -> String {
    let mut body = String::from("[");
    for (i, e) in events.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&e.json);
    }
    body.push(']');
    body
}

/// SplitMix64's finalizer: spreads nearby seeds apart.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

    fn generator(per_request: PerRequest, malformed_share: f64) -> Generator {
        Generator::new(&EventsConfig {
            per_request,
            malformed_share,
            seed: 42,
            ..EventsConfig::default()
        })
        .expect("valid config")
    }

    #[test]
    fn the_contracts_validator_agrees_with_the_generator() {
        let g = generator(PerRequest::Range { min: 1, max: 40 }, 0.5);
        let now = Utc::now();
        let (mut valid, mut malformed) = (0, 0);
        let mut types = HashSet::new();
        for r in 0..400 {
            for e in g.request(r, now) {
                let checked = event_contract::validate_at(e.json.as_bytes(), now);
                assert_eq!(
                    checked.verdict.is_valid(),
                    e.valid,
                    "{}: {:?}",
                    e.json,
                    checked.verdict
                );
                // Valid ones are clean: not even a warning.
                if e.valid {
                    assert_eq!(checked.verdict.severity(), None, "{}", e.json);
                    valid += 1;
                } else {
                    malformed += 1;
                }
                if let Some(t) = checked.event.as_ref().and_then(|e| e.event_type()) {
                    types.insert(t.to_owned());
                }
                let id = checked.event.as_ref().and_then(|e| e.event_id());
                assert_eq!(id, Some(e.id.as_str()));
            }
        }
        assert!(valid > 1000 && malformed > 100, "{valid} {malformed}");
        for t in EventType::ALL {
            assert!(types.contains(t.as_str()), "{t} never generated");
        }
    }

    #[test]
    fn every_malformed_kind_is_malformed() {
        let g = generator(PerRequest::Fixed(1), 0.0);
        let now = Utc::now();
        for kind in 0..MALFORMED_KINDS {
            for r in 0..20 {
                let e = g.request(r, now).remove(0);
                let mut value: Value = serde_json::from_str(&e.json).expect("json");
                break_rule(&mut value, kind);
                let checked = event_contract::validate_at(value.to_string().as_bytes(), now);
                assert!(checked.verdict.is_malformed(), "kind {kind}: {value}");
            }
        }
    }

    #[test]
    fn a_malformed_request_has_exactly_one_malformed_event() {
        let g = generator(PerRequest::Fixed(20), 1.0);
        for r in 0..50 {
            let events = g.request(r, Utc::now());
            assert_eq!(events.iter().filter(|e| !e.valid).count(), 1);
            let (count, at) = g.shape(r);
            assert_eq!(count, events.len());
            assert!(at.is_some_and(|i| !events[i].valid));
        }
        let clean = generator(PerRequest::Fixed(20), 0.0);
        assert!((0..50).all(|r| clean.request(r, Utc::now()).iter().all(|e| e.valid)));
    }

    #[test]
    fn a_seed_reproduces_the_events_and_ids_are_unique() {
        let g = generator(PerRequest::Range { min: 1, max: 500 }, 0.2);
        let now = Utc::now();
        let mut ids = HashSet::new();
        for r in 0..30 {
            let events = g.request(r, now);
            assert_eq!(events.len(), g.count(r));
            assert_eq!(events, g.request(r, now));
            for e in events {
                assert!(e.id.starts_with(&g.id_prefix()));
                assert!(ids.insert(e.id));
            }
        }
        let other = Generator::new(&EventsConfig {
            seed: 43,
            ..g.config().clone()
        })
        .expect("valid");
        assert_ne!(other.request(0, now), g.request(0, now));
    }

    #[test]
    fn zipf_favours_the_first_users() {
        let g = generator(PerRequest::Fixed(1), 0.0);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut counts = BTreeMap::new();
        for _ in 0..20_000 {
            *counts.entry(g.user(&mut rng)).or_insert(0u32) += 1;
        }
        // Harmonic number H(1000) ≈ 7.49: user 0 gets about 13%, user 9 about 1.3%.
        let first = counts.get(&0).copied().unwrap_or(0);
        let tenth = counts.get(&9).copied().unwrap_or(0);
        assert!((2200..3200).contains(&first), "{first}");
        assert!(first > 5 * tenth, "{first} {tenth}");
        assert!(counts.keys().all(|u| *u < 1000));
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(matches!(
            "0".parse::<PerRequest>(),
            Err(Error::EventsPerRequest { value }) if value == "0"
        ));
        assert!(matches!(
            "501".parse::<PerRequest>(),
            Err(Error::EventsPerRequest { .. })
        ));
        assert!(matches!(
            "9..3".parse::<PerRequest>(),
            Err(Error::EventsPerRequest { .. })
        ));
        assert_eq!(
            "1..500".parse::<PerRequest>().ok(),
            Some(PerRequest::Range { min: 1, max: 500 })
        );
        assert!(matches!(
            "zipf:x".parse::<UserChoice>(),
            Err(Error::UserChoice { .. })
        ));
        assert_eq!(
            "zipf:1.2".parse::<UserChoice>().ok(),
            Some(UserChoice::Zipf { exponent: 1.2 })
        );
        assert!(matches!(
            Generator::new(&EventsConfig {
                malformed_share: 1.5,
                ..EventsConfig::default()
            }),
            Err(Error::MalformedShare { .. })
        ));
        assert!(matches!(
            Generator::new(&EventsConfig {
                users: 0,
                ..EventsConfig::default()
            }),
            Err(Error::Pool { users: 0, .. })
        ));
    }
}
