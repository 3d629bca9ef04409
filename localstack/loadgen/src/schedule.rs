//! Arrival schedules: how many requests per second to offer, over time.
//!
//! A schedule is in **requests per second**; each request carries the configured number of
//! events ([`crate::EventsConfig::per_request`]), and the report shows both rates.
//!
//! Arrivals are evenly spaced along the rate curve (the n-th request is offered when the
//! integral of the rate reaches n), not random: two runs of one schedule offer the same
//! requests at the same times. They do not wait for answers (open loop).
//!
//! The text form (`--schedule`):
//!
//! | form | meaning |
//! |---|---|
//! | `constant:500rps:30s` | 500 requests/s for 30 s (`rps` optional) |
//! | `step:500:10s,1000:10s` | 500/s for 10 s, then 1,000/s for 10 s |
//! | `spike:base=500,peak=4000,for=10s,before=5s,after=5s` | 500/s for 5 s, 4,000/s for 10 s, 500/s for 5 s (`before` and `after` default to 5 s) |
//! | `ramp:100..2000:60s` | from 100/s to 2,000/s, linearly, over 60 s |
//!
//! Durations are a number with `ms`, `s` or `m` (`500ms`, `1.5s`, `2m`); rates are a
//! non-negative number of requests per second, optionally followed by `rps`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default length of a spike's baseline before and after the peak.
pub const DEFAULT_SPIKE_BASELINE: Duration = Duration::from_secs(5);

/// The highest rate a schedule may ask for, in requests per second: far above what one
/// process can offer, low enough that arithmetic on it stays exact.
pub const MAX_RATE: f64 = 1_000_000.0;

/// The longest schedule: a day.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// How the offered rate of requests per second changes over time.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `rps` requests per second for `duration`.
    Constant { rps: f64, duration: Duration },
    /// Each step's rate for its duration, in order.
    Step(Vec<Step>),
    /// A baseline, a spike, the baseline again.
    Spike(Spike),
    /// From `from` to `to` requests per second, linearly, over `duration`.
    Ramp {
        from: f64,
        to: f64,
        duration: Duration,
    },
}

/// One step of [`Schedule::Step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Requests per second.
    pub rps: f64,
    /// How long.
    pub duration: Duration,
}

/// [`Schedule::Spike`]: `base` for `before`, `peak` for `duration`, `base` for `after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spike {
    pub base: f64,
    pub peak: f64,
    pub duration: Duration,
    pub before: Duration,
    pub after: Duration,
}

/// A piece of a schedule: the rate goes linearly from `from` to `to` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub duration: Duration,
    pub from: f64,
    pub to: f64,
}

impl Segment {
    fn constant(rps: f64, duration: Duration) -> Self {
        Segment {
            duration,
            from: rps,
            to: rps,
        }
    }

    /// Requests this segment offers: the integral of its rate.
    fn requests(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.duration.as_secs_f64()
    }

    /// The time into the segment at which `x` requests (`0 <= x <= requests()`) have been
    /// offered.
    fn time_of(&self, x: f64) -> f64 {
        let d = self.duration.as_secs_f64();
        let slope = (self.to - self.from) / d;
        if slope.abs() < 1e-12 {
            return x / self.from;
        }
        // from·t + slope·t²/2 = x
        let disc = (self.from * self.from + 2.0 * slope * x).max(0.0);
        (disc.sqrt() - self.from) / slope
    }
}

impl Schedule {
    /// The schedule as pieces of linear rate.
    pub fn segments(&self) -> Vec<Segment> {
        match self {
            Schedule::Constant { rps, duration } => vec![Segment::constant(*rps, *duration)],
            Schedule::Step(steps) => steps
                .iter()
                .map(|s| Segment::constant(s.rps, s.duration))
                .collect(),
            Schedule::Spike(s) => [
                Segment::constant(s.base, s.before),
                Segment::constant(s.peak, s.duration),
                Segment::constant(s.base, s.after),
            ]
            .into_iter()
            .filter(|s| !s.duration.is_zero())
            .collect(),
            Schedule::Ramp { from, to, duration } => vec![Segment {
                duration: *duration,
                from: *from,
                to: *to,
            }],
        }
    }

    /// How long the schedule offers requests.
    pub fn duration(&self) -> Duration {
        self.segments().iter().map(|s| s.duration).sum()
    }

    /// How many requests the schedule offers.
    pub fn planned_requests(&self) -> u64 {
        self.arrivals().count() as u64
    }

    /// The highest rate of the schedule, in requests per second.
    pub fn peak_rps(&self) -> f64 {
        self.segments()
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(0.0, f64::max)
    }

    /// When each request is offered, from the start of the run, in order: evenly spaced
    /// along the rate, the first at 0.
    pub fn arrivals(&self) -> Arrivals {
        Arrivals {
            segments: self.segments(),
            segment: 0,
            segment_start: 0.0,
            offered_before: 0.0,
            next: 0,
        }
    }

    /// The same schedule with every rate multiplied by `factor` (durations unchanged): the
    /// spec's burst scaled down to what a machine can drive.
    pub fn scaled(&self, factor: f64) -> Schedule {
        let mut scaled = self.clone();
        match &mut scaled {
            Schedule::Constant { rps, .. } => *rps *= factor,
            Schedule::Step(steps) => steps.iter_mut().for_each(|s| s.rps *= factor),
            Schedule::Spike(s) => {
                s.base *= factor;
                s.peak *= factor;
            }
            Schedule::Ramp { from, to, .. } => {
                *from *= factor;
                *to *= factor;
            }
        }
        scaled
    }
}

/// The arrival times of a [`Schedule`]: see [`Schedule::arrivals`].
#[derive(Debug, Clone)]
pub struct Arrivals {
    segments: Vec<Segment>,
    segment: usize,
    /// Seconds from the start at which the current segment begins.
    segment_start: f64,
    /// Requests the segments before the current one offer (fractional).
    offered_before: f64,
    /// The index of the next arrival.
    next: u64,
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let k = self.next as f64;
        while let Some(segment) = self.segments.get(self.segment) {
            let in_segment = k - self.offered_before;
            let requests = segment.requests();
            // An arrival exactly at a segment's end belongs to the next segment (or none).
            if in_segment < requests - 1e-9 {
                let t = self.segment_start + segment.time_of(in_segment);
                self.next += 1;
                return Some(Duration::from_secs_f64(t.max(0.0)));
            }
            self.offered_before += requests;
            self.segment_start += segment.duration.as_secs_f64();
            self.segment += 1;
        }
        None
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant { rps, duration } => {
                write!(f, "constant:{rps}rps:{}", DurationText(*duration))
            }
            Schedule::Step(steps) => {
                f.write_str("step:")?;
                for (i, s) in steps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", s.rps, DurationText(s.duration))?;
                }
                Ok(())
            }
            Schedule::Spike(s) => write!(
                f,
                "spike:base={},peak={},for={},before={},after={}",
                s.base,
                s.peak,
                DurationText(s.duration),
                DurationText(s.before),
                DurationText(s.after)
            ),
            Schedule::Ramp { from, to, duration } => {
                write!(f, "ramp:{from}..{to}:{}", DurationText(*duration))
            }
        }
    }
}

/// A duration as the schedule syntax writes it: whole milliseconds, or seconds when whole.
#[derive(Debug, Clone, Copy)]
pub struct DurationText(pub Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// A schedule that does not parse: which token, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule {schedule:?}: {problem} at {token:?}")]
pub struct ScheduleError {
    /// The whole schedule as given.
    pub schedule: String,
    /// The part that is wrong.
    pub token: String,
    /// What is wrong with it.
    pub problem: ScheduleProblem,
}

/// What is wrong with a token of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleProblem {
    #[error("unknown schedule kind (expected constant, step, spike or ramp)")]
    UnknownKind,
    #[error("expected {0}")]
    Shape(&'static str),
    #[error("not a rate in requests per second (a number from 0 to 1000000, optionally with rps)")]
    Rate,
    #[error("not a duration (a number with ms, s or m, at most 24 hours)")]
    Duration,
    #[error("duration must be more than zero")]
    ZeroDuration,
    #[error("unknown key (expected base, peak, for, before or after)")]
    UnknownKey,
    #[error("key given twice")]
    DuplicateKey,
    #[error("missing key {0}")]
    MissingKey(&'static str),
    #[error("the schedule offers no request (every rate is 0)")]
    Empty,
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |token: &str, problem| ScheduleError {
            schedule: text.to_owned(),
            token: token.to_owned(),
            problem,
        };
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        let schedule = match kind.trim() {
            "constant" => {
                let (rate, duration) = rest
                    .split_once(':')
                    .ok_or_else(|| fail(rest, ScheduleProblem::Shape("RATE:DURATION")))?;
                Schedule::Constant {
                    rps: rate_of(rate).ok_or_else(|| fail(rate, ScheduleProblem::Rate))?,
                    duration: positive(duration, &fail)?,
                }
            }
            "step" => {
                let mut steps = Vec::new();
                for step in rest.split(',') {
                    let (rate, duration) = step
                        .split_once(':')
                        .ok_or_else(|| fail(step, ScheduleProblem::Shape("RATE:DURATION")))?;
                    steps.push(Step {
                        rps: rate_of(rate).ok_or_else(|| fail(rate, ScheduleProblem::Rate))?,
                        duration: positive(duration, &fail)?,
                    });
                }
                Schedule::Step(steps)
            }
            "spike" => {
                let (mut base, mut peak, mut duration, mut before, mut after) =
                    (None, None, None, None, None);
                for pair in rest.split(',') {
                    let (key, value) = pair
                        .split_once('=')
                        .ok_or_else(|| fail(pair, ScheduleProblem::Shape("KEY=VALUE")))?;
                    let duplicate = match key.trim() {
                        "base" => base
                            .replace(
                                rate_of(value).ok_or_else(|| fail(value, ScheduleProblem::Rate))?,
                            )
                            .is_some(),
                        "peak" => peak
                            .replace(
                                rate_of(value).ok_or_else(|| fail(value, ScheduleProblem::Rate))?,
                            )
                            .is_some(),
                        "for" => duration.replace(positive(value, &fail)?).is_some(),
                        "before" => before
                            .replace(
                                duration_of(value)
                                    .ok_or_else(|| fail(value, ScheduleProblem::Duration))?,
                            )
                            .is_some(),
                        "after" => after
                            .replace(
                                duration_of(value)
                                    .ok_or_else(|| fail(value, ScheduleProblem::Duration))?,
                            )
                            .is_some(),
                        _ => return Err(fail(key, ScheduleProblem::UnknownKey)),
                    };
                    if duplicate {
                        return Err(fail(pair, ScheduleProblem::DuplicateKey));
                    }
                }
                Schedule::Spike(Spike {
                    base: base.ok_or_else(|| fail(rest, ScheduleProblem::MissingKey("base")))?,
                    peak: peak.ok_or_else(|| fail(rest, ScheduleProblem::MissingKey("peak")))?,
                    duration: duration
                        .ok_or_else(|| fail(rest, ScheduleProblem::MissingKey("for")))?,
                    before: before.unwrap_or(DEFAULT_SPIKE_BASELINE),
                    after: after.unwrap_or(DEFAULT_SPIKE_BASELINE),
                })
            }
            "ramp" => {
                let (rates, duration) = rest
                    .split_once(':')
                    .ok_or_else(|| fail(rest, ScheduleProblem::Shape("FROM..TO:DURATION")))?;
                let (from, to) = rates
                    .split_once("..")
                    .ok_or_else(|| fail(rates, ScheduleProblem::Shape("FROM..TO")))?;
                Schedule::Ramp {
                    from: rate_of(from).ok_or_else(|| fail(from, ScheduleProblem::Rate))?,
                    to: rate_of(to).ok_or_else(|| fail(to, ScheduleProblem::Rate))?,
                    duration: positive(duration, &fail)?,
                }
            }
            _ => return Err(fail(kind, ScheduleProblem::UnknownKind)),
        };
        if schedule.duration() > MAX_DURATION {
            return Err(fail(text, ScheduleProblem::Duration));
        }
        if schedule.peak_rps() <= 0.0 {
            return Err(fail(text, ScheduleProblem::Empty));
        }
        Ok(schedule)
    }
}

fn positive(
    text: &str,
    fail: &impl Fn(&str, ScheduleProblem) -> ScheduleError,
) -> Result<Duration, ScheduleError> {
    match duration_of(text) {
        None => Err(fail(text, ScheduleProblem::Duration)),
        Some(d) if d.is_zero() => Err(fail(text, ScheduleProblem::ZeroDuration)),
        Some(d) => Ok(d),
    }
}

/// A rate: a finite number from 0 to [`MAX_RATE`], optionally followed by `rps`.
pub fn rate_of(text: &str) -> Option<f64> {
    let text = text.trim();
    let number = text.strip_suffix("rps").unwrap_or(text);
    let rate: f64 = number.parse().ok()?;
    (rate.is_finite() && (0.0..=MAX_RATE).contains(&rate)).then_some(rate)
}

/// A duration: a number with `ms`, `s` or `m`, at most [`MAX_DURATION`].
pub fn duration_of(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        return None;
    };
    let value: f64 = number.parse().ok()?;
    let seconds = value * unit;
    (seconds.is_finite() && (0.0..=MAX_DURATION.as_secs_f64()).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        text.parse()
    }

    #[test]
    fn the_four_forms_parse() {
        assert_eq!(
            parse("constant:500rps:30s"),
            Ok(Schedule::Constant {
                rps: 500.0,
                duration: Duration::from_secs(30)
            })
        );
        assert_eq!(
            parse("step:500:10s,1000:500ms"),
            Ok(Schedule::Step(vec![
                Step {
                    rps: 500.0,
                    duration: Duration::from_secs(10)
                },
                Step {
                    rps: 1000.0,
                    duration: Duration::from_millis(500)
                },
            ]))
        );
        assert_eq!(
            parse("spike:base=500,peak=4000,for=10s"),
            Ok(Schedule::Spike(Spike {
                base: 500.0,
                peak: 4000.0,
                duration: Duration::from_secs(10),
                before: DEFAULT_SPIKE_BASELINE,
                after: DEFAULT_SPIKE_BASELINE,
            }))
        );
        assert_eq!(
            parse("ramp:100..2000:1m"),
            Ok(Schedule::Ramp {
                from: 100.0,
                to: 2000.0,
                duration: Duration::from_secs(60)
            })
        );
    }

    #[test]
    fn display_parses_back() {
        for text in [
            "constant:2.5rps:1500ms",
            "step:500:10s,1000:10s",
            "spike:base=500,peak=4000,for=10s,before=0s,after=3s",
            "ramp:0..20:2s",
        ] {
            let schedule = parse(text).expect("parses");
            assert_eq!(parse(&schedule.to_string()), Ok(schedule), "{text}");
        }
    }

    #[test]
    fn errors_name_the_token() {
        let cases = [
            ("burst:1:1s", "burst", ScheduleProblem::UnknownKind),
            ("constant:fast:10s", "fast", ScheduleProblem::Rate),
            ("constant:-1:10s", "-1", ScheduleProblem::Rate),
            ("constant:10:10x", "10x", ScheduleProblem::Duration),
            ("constant:10:0s", "0s", ScheduleProblem::ZeroDuration),
            ("constant:10", "10", ScheduleProblem::Shape("RATE:DURATION")),
            ("step:5:1s,6", "6", ScheduleProblem::Shape("RATE:DURATION")),
            (
                "spike:500,4000,10s",
                "500",
                ScheduleProblem::Shape("KEY=VALUE"),
            ),
            (
                "spike:base=1,peak=2,for=1s,top=3",
                "top",
                ScheduleProblem::UnknownKey,
            ),
            (
                "spike:base=1,peak=2,for=1s,base=3",
                "base=3",
                ScheduleProblem::DuplicateKey,
            ),
            (
                "spike:base=1,for=1s",
                "base=1,for=1s",
                ScheduleProblem::MissingKey("peak"),
            ),
            ("ramp:1-2:3s", "1-2", ScheduleProblem::Shape("FROM..TO")),
            ("constant:0:3s", "constant:0:3s", ScheduleProblem::Empty),
        ];
        for (text, token, problem) in cases {
            let error = parse(text).expect_err(text);
            assert_eq!(error.token, token, "{text}");
            assert_eq!(error.problem, problem, "{text}");
            assert!(error.to_string().contains(&format!("{token:?}")), "{error}");
        }
    }

    #[test]
    fn a_constant_rate_is_evenly_spaced() {
        let s = parse("constant:4:1s").expect("parses");
        let at: Vec<_> = s.arrivals().map(|d| d.as_millis()).collect();
        assert_eq!(at, [0, 250, 500, 750]);
    }

    #[test]
    fn a_spike_offers_each_phase_at_its_rate() {
        let s = parse("spike:base=10,peak=100,for=2s,before=1s,after=1s").expect("parses");
        let at: Vec<_> = s.arrivals().collect();
        assert_eq!(at.len(), 10 + 200 + 10);
        let in_peak = at
            .iter()
            .filter(|t| (1.0..3.0).contains(&t.as_secs_f64()))
            .count();
        assert_eq!(in_peak, 200);
        assert!(at.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(s.planned_requests(), 220);
        assert_eq!(s.duration(), Duration::from_secs(4));
    }

    #[test]
    fn a_ramp_offers_the_integral_of_its_rate() {
        // 0 → 100/s over 10 s: 500 requests, a quarter of them in the first half.
        let s = parse("ramp:0..100:10s").expect("parses");
        let at: Vec<_> = s.arrivals().collect();
        assert!((499..=501).contains(&at.len()), "{}", at.len());
        let first_half = at.iter().filter(|t| t.as_secs_f64() < 5.0).count();
        assert!((124..=126).contains(&first_half), "{first_half}");
        assert!(at.iter().all(|t| *t < Duration::from_secs(10)));
    }

    #[test]
    fn scaling_multiplies_rates_only() {
        let s = parse("spike:base=500,peak=4000,for=10s").expect("parses");
        assert_eq!(
            s.scaled(0.1).to_string(),
            "spike:base=50,peak=400,for=10s,before=5s,after=5s"
        );
    }
}
