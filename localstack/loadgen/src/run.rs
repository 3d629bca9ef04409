//! The open-loop run.
//!
//! The generator offers each request at its scheduled time whatever became of the earlier
//! ones: a slow or stalled target does not slow the arrivals (no coordinated omission). Each
//! request's latency is measured from its *scheduled* send time, so time spent waiting behind
//! [`Limits::max_in_flight`] for a connection, or sent late because this machine fell behind,
//! counts. A request that finds [`Limits::max_queued`] requests already waiting is *dropped by
//! the generator* and counted, never sent. At [`Limits::deadline`] everything still queued, in
//! flight or between resends is *abandoned* and counted, and the run ends.
//!
//! Answers (ingest's, and API Gateway's):
//! - 2xx (ingest's 202 `{"accepted":N}`): every event of the request is accepted;
//! - 503 with `"failed":[positions]`: the others are accepted, and exactly the failed
//!   positions' events are sent again, up to [`Resend::attempts`] times, after an
//!   exponential backoff with full jitter (a random wait up to `base·2^attempt`, at most
//!   `max`); what is still failed after the last attempt is failed;
//! - 429: throttled; 4xx: refused (a 400 lists malformed events, which are never resent);
//!   other 5xx, a 503 without failed positions, no answer, or no answer within
//!   [`Limits::request_timeout`]: failed. None of these is resent: resending a throttled or
//!   failed request would make the generator's load depend on the target's answers, which
//!   an open-loop test must not; the report counts them instead.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};
use tracing::{debug, info};

use crate::Error;
use crate::client::{Answer, Http, Target, Transport};
use crate::events::{self, EventsConfig, GeneratedEvent, Generator};
use crate::report::{Counts, Latency, Percentiles, Report, Resent, Second, Settings};
use crate::schedule::{MAX_RATE, Schedule};

/// How long after the schedule ends the run waits for answers, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// The highest latency the histograms hold, in microseconds (an hour); higher ones are
/// recorded as this.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A load test: where, when, what, and within which bounds.
#[derive(Debug, Clone)]
pub struct LoadTest {
    /// Where the requests go.
    pub target: Target,
    /// When: requests per second over time.
    pub schedule: Schedule,
    /// What: the events of each request.
    pub events: EventsConfig,
    /// The bounds of the run.
    pub limits: Limits,
}

/// The bounds of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Requests in flight at most (connections). Default 256.
    pub max_in_flight: usize,
    /// Requests waiting for a connection at most; one due when this many wait is dropped.
    /// Default 10,000.
    pub max_queued: usize,
    /// The hard deadline from the start; `None`: the schedule's length plus
    /// [`DEFAULT_GRACE`].
    pub deadline: Option<Duration>,
    /// How long one send may wait for its answer. Default 30 s (API Gateway's own limit is
    /// 29 s).
    pub request_timeout: Duration,
    /// Resending a 503's failed positions.
    pub resend: Resend,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 256,
            max_queued: 10_000,
            deadline: None,
            request_timeout: Duration::from_secs(30),
            resend: Resend::default(),
        }
    }
}

impl Limits {
    /// The deadline for `schedule`.
    pub fn deadline_for(&self, schedule: &Schedule) -> Duration {
        self.deadline
            .unwrap_or_else(|| schedule.duration() + DEFAULT_GRACE)
    }
}

/// Resending the positions a 503 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    /// Resends after the first send, at most. Default 3.
    pub attempts: u32,
    /// The first backoff's upper bound. Default 100 ms.
    pub base: Duration,
    /// The largest backoff. Default 2 s.
    pub max: Duration,
}

impl Default for Resend {
    fn default() -> Self {
        Resend {
            attempts: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl Resend {
    /// The wait before resend `attempt` (from 0): uniformly random up to
    /// `min(max, base·2^attempt)`.
    pub fn backoff(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.u64(..=micros))
    }
}

/// How the run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not at all.
    Quiet,
    /// An `indicatif` bar on stderr, redrawn four times a second.
    Bar,
    /// A `tracing` line every five seconds.
    Log,
    /// [`Progress::Bar`] when stderr is a terminal, else [`Progress::Log`].
    Auto,
}

/// A finished run: its report, and what became of each event, for the table check.
#[derive(Debug, Clone)]
pub struct Run {
    /// The report.
    pub report: Report,
    /// Each event's fate.
    pub ledger: Ledger,
}

/// Which events were accepted (and when), which were certainly not stored, and which may or
/// may not have been.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// The run's seed: with [`EventRef`] it makes the `event_id`s.
    pub seed: u64,
    /// When the run started, by the wall clock.
    pub started: Option<SystemTime>,
    /// Valid events ingest accepted, with when (since the start).
    pub accepted: Vec<(EventRef, Duration)>,
    /// Events that must not be in the table: malformed, refused, throttled, failed with their
    /// position named, dropped, or abandoned before they were sent.
    pub not_stored: Vec<EventRef>,
    /// Events that may be in the table: their request got no answer, an answer that named no
    /// positions (500, 502, 504), or was abandoned while in flight.
    pub uncertain: Vec<EventRef>,
}

/// An event of a run: its request and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventRef {
    pub request: u64,
    pub index: u16,
}

impl Ledger {
    /// The `event_id` of `event`.
    pub fn id(&self, event: EventRef) -> String {
        events::event_id(self.seed, event.request, usize::from(event.index))
    }

    /// The `event_id`s of the accepted events.
    pub fn accepted_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.accepted.iter().map(|(e, _)| self.id(*e))
    }
}

impl Run {
    /// The `event_id`s of the accepted events.
    pub fn accepted_event_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.ledger.accepted_ids()
    }
}

/// A latency histogram: 1 µs to [`MAX_LATENCY_US`], three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("constant bounds are valid")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
    Throttled,
    Failed,
    Dropped,
    Abandoned,
}

fn add(counts: &mut Counts, outcome: Outcome, n: u64) {
    let field = match outcome {
        Outcome::Accepted => &mut counts.accepted,
        Outcome::Refused => &mut counts.refused,
        Outcome::Throttled => &mut counts.throttled,
        Outcome::Failed => &mut counts.failed,
        Outcome::Dropped => &mut counts.dropped,
        Outcome::Abandoned => &mut counts.abandoned,
    };
    *field += n;
}

#[derive(Debug)]
struct SecondAcc {
    counts: Second,
    latency: Histogram<u64>,
}

/// Everything counted during a run, behind one lock.
#[derive(Debug)]
struct Recorder {
    requests: Counts,
    events: Counts,
    malformed: u64,
    resent: Resent,
    responses: BTreeMap<String, u64>,
    transport_errors: u64,
    accepted: Histogram<u64>,
    answered: Histogram<u64>,
    max_lag: Duration,
    seconds: Vec<SecondAcc>,
    ledger: Ledger,
    last_answer: Duration,
}

impl Recorder {
    fn second(&mut self, at: Duration) -> &mut SecondAcc {
        let s = usize::try_from(at.as_secs())
            .unwrap_or(usize::MAX)
            .min(24 * 3600 * 2);
        while self.seconds.len() <= s {
            let second = self.seconds.len() as u64;
            self.seconds.push(SecondAcc {
                counts: Second {
                    second,
                    ..Second::default()
                },
                latency: second_histogram(),
            });
        }
        &mut self.seconds[s]
    }
}

/// What a run shares between its requests.
struct Shared<T> {
    transport: Arc<T>,
    generator: Generator,
    limits: Limits,
    start: Instant,
    deadline: Instant,
    permits: Semaphore,
    queued: AtomicUsize,
    recorder: Mutex<Recorder>,
}

impl<T> Shared<T> {
    fn recorder(&self) -> MutexGuard<'_, Recorder> {
        // A panic while counting leaves counts that are still counts: keep going.
        self.recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }
}

/// Runs `test` over HTTP (see [`crate::client::Http`]).
pub async fn run(test: &LoadTest, progress: Progress) -> Result<Run, Error> {
    let http = Http::new(&test.target, test.limits.max_in_flight)?;
    run_with(test, Arc::new(http), progress).await
}

/// Runs `test` over `transport`: [`run`] with another way to send, for tests and fakes.
pub async fn run_with<T: Transport>(
    test: &LoadTest,
    transport: Arc<T>,
    progress: Progress,
) -> Result<Run, Error> {
    let limits = &test.limits;
    if limits.max_in_flight == 0 {
        return Err(Error::Limit {
            name: "max in flight",
        });
    }
    if test.schedule.peak_rps() > MAX_RATE {
        return Err(Error::Rate {
            schedule: test.schedule.to_string(),
            max: MAX_RATE,
        });
    }
    let generator = Generator::new(&test.events)?;
    let deadline_after = limits.deadline_for(&test.schedule);
    let started_wall = SystemTime::now();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        transport,
        generator,
        limits: limits.clone(),
        start,
        deadline: start + deadline_after,
        permits: Semaphore::new(limits.max_in_flight),
        queued: AtomicUsize::new(0),
        recorder: Mutex::new(Recorder {
            requests: Counts::default(),
            events: Counts::default(),
            malformed: 0,
            resent: Resent::default(),
            responses: BTreeMap::new(),
            transport_errors: 0,
            accepted: histogram(),
            answered: histogram(),
            max_lag: Duration::ZERO,
            seconds: Vec::new(),
            ledger: Ledger {
                seed: test.events.seed,
                started: Some(started_wall),
                ..Ledger::default()
            },
            last_answer: Duration::ZERO,
        }),
    });
    info!(
        target = %test.target.url,
        schedule = %test.schedule,
        planned_requests = test.schedule.planned_requests(),
        seed = test.events.seed,
        "load test started"
    );
    let ticker = start_progress(progress, &shared, test.schedule.duration());

    let mut tasks = JoinSet::new();
    for (request, offset) in test.schedule.arrivals().enumerate() {
        let request = request as u64;
        let scheduled = start + offset;
        if scheduled >= shared.deadline {
            break;
        }
        sleep_until(scheduled).await;
        let lag = Instant::now().saturating_duration_since(scheduled);
        let (count, malformed) = shared.generator.shape(request);
        let count = count as u64;
        let full = shared.queued.load(Ordering::Relaxed) >= limits.max_queued;
        {
            let mut r = shared.recorder();
            r.max_lag = r.max_lag.max(lag);
            r.requests.offered += 1;
            r.events.offered += count;
            r.malformed += u64::from(malformed.is_some());
            let second = &mut r.second(offset).counts;
            second.offered_requests += 1;
            second.offered_events += count;
            if full {
                add(&mut r.requests, Outcome::Dropped, 1);
                add(&mut r.events, Outcome::Dropped, count);
                for index in 0..count {
                    let index = u16::try_from(index).unwrap_or(u16::MAX);
                    r.ledger.not_stored.push(EventRef { request, index });
                }
            }
        }
        if full {
            debug!(request, "queue full, request dropped");
            continue;
        }
        shared.queued.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tasks.spawn(async move { one_request(&shared, request, scheduled).await });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    if let Some(ticker) = ticker {
        ticker.stop().await;
    }

    let shared = Arc::into_inner(shared).expect("every request task has ended");
    let recorder = shared
        .recorder
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let report = report(test, &recorder, started_wall, deadline_after);
    info!(
        requests = report.requests.offered,
        accepted = report.requests.accepted,
        refused = report.requests.refused,
        throttled = report.requests.throttled,
        failed = report.requests.failed,
        dropped = report.requests.dropped,
        abandoned = report.requests.abandoned,
        p99_us = report.latency.accepted.p99_us,
        "load test finished"
    );
    Ok(Run {
        report,
        ledger: recorder.ledger,
    })
}

/// One request's state, kept outside the future the deadline may cut short.
struct State {
    request: u64,
    scheduled: Instant,
    events: Vec<GeneratedEvent>,
    /// Positions not yet settled.
    pending: Vec<usize>,
    /// Whether it still waits for a connection (counted in `queued`).
    queued: bool,
    /// Whether a send is in flight.
    in_flight: bool,
    answered: bool,
}

async fn one_request<T: Transport>(shared: &Shared<T>, request: u64, scheduled: Instant) {
    let mut state = State {
        request,
        scheduled,
        events: Vec::new(),
        pending: Vec::new(),
        queued: true,
        in_flight: false,
        answered: false,
    };
    let finished = timeout_at(shared.deadline, drive(shared, &mut state)).await;
    if state.queued {
        shared.queued.fetch_sub(1, Ordering::Relaxed);
    }
    if finished.is_err() {
        // At the deadline: what is unsettled is abandoned.
        let positions: Vec<usize> = if state.events.is_empty() {
            (0..shared.generator.count(request)).collect()
        } else {
            std::mem::take(&mut state.pending)
        };
        let count = positions.len();
        let mut r = shared.recorder();
        add(&mut r.requests, Outcome::Abandoned, 1);
        add(&mut r.events, Outcome::Abandoned, count as u64);
        for index in positions {
            let event = EventRef {
                request,
                index: u16::try_from(index).unwrap_or(u16::MAX),
            };
            if state.in_flight {
                r.ledger.uncertain.push(event);
            } else {
                r.ledger.not_stored.push(event);
            }
        }
    }
}

async fn drive<T: Transport>(shared: &Shared<T>, state: &mut State) {
    let request = state.request;
    let mut rng = fastrand::Rng::with_seed(request ^ 0x5EED);
    let events = shared.generator.request(request, Utc::now());
    state.pending = (0..events.len()).collect();
    state.events = events;
    let limits = &shared.limits;
    let mut attempt = 0u32;
    loop {
        let permit = shared
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        if Instant::now() >= shared.deadline {
            // A connection freed by a request abandoned at the deadline: send nothing more,
            // and let the deadline abandon this one too.
            std::future::pending::<()>().await;
        }
        if state.queued {
            state.queued = false;
            shared.queued.fetch_sub(1, Ordering::Relaxed);
        }
        let body = Bytes::from(events::body(
            state.pending.iter().map(|&p| &state.events[p]),
        ));
        if attempt > 0 {
            let mut r = shared.recorder();
            r.resent.requests += 1;
            r.resent.events += state.pending.len() as u64;
        }
        state.in_flight = true;
        let answer = timeout(limits.request_timeout, shared.transport.send(body)).await;
        state.in_flight = false;
        drop(permit);
        let now = Instant::now();
        let answer = match answer {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(error)) => {
                debug!(request, error = %error, "no answer");
                None
            }
            Err(_) => {
                debug!(request, "no answer within the request timeout");
                None
            }
        };
        let resend = settle(
            shared,
            state,
            answer.as_ref(),
            now,
            attempt < limits.resend.attempts,
        );
        if !resend {
            return;
        }
        let wait = limits.resend.backoff(attempt, &mut rng);
        attempt += 1;
        sleep(wait).await;
    }
}

/// Counts an answer (or its absence, `None`) at `now`; whether to resend what is pending (a
/// 503 named failed positions and `may_resend`).
fn settle<T>(
    shared: &Shared<T>,
    state: &mut State,
    answer: Option<&Answer>,
    now: Instant,
    may_resend: bool,
) -> bool {
    let request = state.request;
    let at = shared.since_start(now);
    let mut r = shared.recorder();
    r.last_answer = r.last_answer.max(at);
    let status_key = answer.map_or_else(|| "error".to_owned(), |a| a.status.to_string());
    *r.responses.entry(status_key).or_insert(0) += 1;
    let latency = micros(now.saturating_duration_since(state.scheduled));
    if answer.is_some() && !state.answered {
        state.answered = true;
        r.answered.saturating_record(latency.max(1));
        let scheduled_at = shared.since_start(state.scheduled);
        let second = r.second(scheduled_at);
        second.counts.answered_requests += 1;
        second.latency.saturating_record(latency.max(1));
    }
    let (outcome, certain) = match answer {
        None => {
            r.transport_errors += 1;
            (Outcome::Failed, false)
        }
        Some(Answer { status, .. }) if (200..300).contains(status) => (Outcome::Accepted, true),
        Some(Answer {
            status: 503,
            failed: Some(failed),
        }) => {
            // Positions of this send, which held `pending` in order.
            let mut failed: Vec<usize> = failed
                .iter()
                .copied()
                .filter(|&p| p < state.pending.len())
                .collect();
            failed.sort_unstable();
            failed.dedup();
            let still: Vec<usize> = failed.iter().map(|&p| state.pending[p]).collect();
            let stored: Vec<usize> = state
                .pending
                .iter()
                .copied()
                .filter(|p| !still.contains(p))
                .collect();
            accept(&mut r, state, &stored, at);
            state.pending = still;
            if state.pending.is_empty() {
                finish_accepted(&mut r, latency);
                return false;
            }
            if may_resend {
                return true;
            }
            (Outcome::Failed, true)
        }
        Some(Answer { status: 429, .. }) => (Outcome::Throttled, true),
        Some(Answer { status, .. }) if (400..500).contains(status) => (Outcome::Refused, true),
        Some(_) => (Outcome::Failed, false),
    };
    if outcome == Outcome::Accepted {
        let pending = std::mem::take(&mut state.pending);
        accept(&mut r, state, &pending, at);
        finish_accepted(&mut r, latency);
        return false;
    }
    add(&mut r.requests, outcome, 1);
    add(&mut r.events, outcome, state.pending.len() as u64);
    let second = &mut r.second(at).counts;
    match outcome {
        Outcome::Refused => second.refused_requests += 1,
        Outcome::Throttled => second.throttled_requests += 1,
        _ => second.failed_requests += 1,
    }
    for &p in &state.pending {
        let event = EventRef {
            request,
            index: u16::try_from(p).unwrap_or(u16::MAX),
        };
        if certain {
            r.ledger.not_stored.push(event);
        } else {
            r.ledger.uncertain.push(event);
        }
    }
    state.pending.clear();
    false
}

fn accept(r: &mut Recorder, state: &State, positions: &[usize], at: Duration) {
    add(&mut r.events, Outcome::Accepted, positions.len() as u64);
    r.second(at).counts.accepted_events += positions.len() as u64;
    for &p in positions {
        let event = EventRef {
            request: state.request,
            index: u16::try_from(p).unwrap_or(u16::MAX),
        };
        if state.events[p].valid {
            r.ledger.accepted.push((event, at));
        } else {
            // A target that accepts a malformed event: it must not be in the table anyway.
            r.ledger.not_stored.push(event);
        }
    }
}

fn finish_accepted(r: &mut Recorder, latency: u64) {
    add(&mut r.requests, Outcome::Accepted, 1);
    r.accepted.saturating_record(latency.max(1));
}

fn report(test: &LoadTest, r: &Recorder, started: SystemTime, deadline: Duration) -> Report {
    let started_at: DateTime<Utc> = started.into();
    let duration = r.last_answer.max(test.schedule.duration());
    let schedule_s = test.schedule.duration().as_secs_f64();
    let run_s = duration.as_secs_f64().max(1e-3);
    let events = &test.events;
    Report {
        settings: Settings {
            target: test.target.url.clone(),
            schedule: test.schedule.to_string(),
            events_per_request: events.per_request.to_string(),
            malformed_share: events.malformed_share.to_string(),
            pool: format!(
                "{} users × {} sessions, {}",
                events.users, events.sessions_per_user, events.user_choice
            ),
            seed: events.seed,
            max_in_flight: test.limits.max_in_flight as u64,
            max_queued: test.limits.max_queued as u64,
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            resend_attempts: test.limits.resend.attempts,
        },
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        planned_requests: test.schedule.planned_requests(),
        requests: r.requests,
        events: r.events,
        malformed_events: r.malformed,
        resent: r.resent,
        responses: r.responses.clone(),
        transport_errors: r.transport_errors,
        latency: Latency {
            accepted: Percentiles::of(&r.accepted),
            answered: Percentiles::of(&r.answered),
        },
        max_send_lag_us: micros(r.max_lag),
        offered_rps_milli: (r.requests.offered as f64 / schedule_s.max(1e-3) * 1000.0).round()
            as u64,
        accepted_events_per_s_milli: (r.events.accepted as f64 / run_s * 1000.0).round() as u64,
        seconds: r
            .seconds
            .iter()
            .map(|s| Second {
                p50_us: if s.latency.is_empty() {
                    0
                } else {
                    s.latency.value_at_quantile(0.5)
                },
                p99_us: if s.latency.is_empty() {
                    0
                } else {
                    s.latency.value_at_quantile(0.99)
                },
                ..s.counts
            })
            .collect(),
        verification: None,
    }
}

/// The progress display's task.
struct Ticker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn start_progress<T: Transport>(
    progress: Progress,
    shared: &Arc<Shared<T>>,
    length: Duration,
) -> Option<Ticker> {
    let progress = match progress {
        Progress::Auto if std::io::stderr().is_terminal() => Progress::Bar,
        Progress::Auto => Progress::Log,
        other => other,
    };
    let (every, bar) = match progress {
        Progress::Quiet | Progress::Auto => return None,
        Progress::Bar => {
            let bar = indicatif::ProgressBar::new(u64::try_from(length.as_millis()).unwrap_or(0));
            let style =
                indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:24}] {msg}")
                    .expect("constant template is valid")
                    .progress_chars("=> ");
            bar.set_style(style);
            (Duration::from_millis(250), Some(bar))
        }
        Progress::Log => (Duration::from_secs(5), None),
    };
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let shared = Arc::clone(shared);
    let task = tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = &mut stopped => break,
            }
            let elapsed = shared.start.elapsed();
            let (req, p99_us, rate) = {
                let r = shared.recorder();
                let last = elapsed.saturating_sub(Duration::from_secs(1)).as_secs();
                let rate = usize::try_from(last)
                    .ok()
                    .and_then(|s| r.seconds.get(s))
                    .map_or(0, |s| s.counts.accepted_events);
                let p99 = if r.answered.is_empty() {
                    0
                } else {
                    r.answered.value_at_quantile(0.99)
                };
                (r.requests, p99, rate)
            };
            match &bar {
                Some(bar) => {
                    bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(0));
                    bar.set_message(format!(
                        "offered {} accepted {} refused {} throttled {} failed {} dropped {} | p99 {:.1} ms | {} events/s",
                        req.offered, req.accepted, req.refused, req.throttled, req.failed,
                        req.dropped, p99_us as f64 / 1000.0, rate
                    ));
                }
                None => info!(
                    elapsed_s = elapsed.as_secs(),
                    offered = req.offered,
                    accepted = req.accepted,
                    refused = req.refused,
                    throttled = req.throttled,
                    failed = req.failed,
                    dropped = req.dropped,
                    p99_ms = p99_us / 1000,
                    accepted_events_per_s = rate,
                    "progress"
                ),
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    });
    Some(Ticker { stop, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_with_jitter() {
        let resend = Resend {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..8 {
            let cap = Duration::from_millis((100u64 << attempt).min(500));
            let waits: Vec<_> = (0..200)
                .map(|_| resend.backoff(attempt, &mut rng))
                .collect();
            assert!(waits.iter().all(|w| *w <= cap), "attempt {attempt}");
            assert!(waits.iter().any(|w| *w > cap / 2), "attempt {attempt}");
        }
    }
}
