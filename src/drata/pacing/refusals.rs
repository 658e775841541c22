//! What a refusal costs, and so how often probing past the limit pays (one place decides).
//!
//! A congestion event (a 429 for a request sent at the current pace) opens a *refusal
//! stretch*, which lasts until a request sent after the event is admitted. Further 429s in
//! the stretch are not new events: against a penalty window every request is refused for the
//! whole penalty, and counting each of them as a signal would drive the pace to the floor.
//! The stretch's length is what the refusal cost: about one request interval against a token
//! bucket (the next request finds a token), the whole penalty against a limiter that refuses
//! everyone once it runs dry, the rest of the window against a fixed window.
//!
//! A stretch longer than `COSTLY` (and than a few intervals at the pace) makes probing
//! expensive: every probe past the limit costs that much of everyone's time. The pacer then
//! climbs back towards the limit so that one probe comes per `PENALTIES_PER_PROBE` stretches'
//! worth of time, and each further costly event at about the same pace (the limit has not
//! moved) doubles that interval, up to `MAX_DOUBLINGS` times: a stable limit is probed ever more
//! rarely. A cheap stretch (a token bucket) leaves the pacer as it is.

use std::time::Duration;
use tokio::time::Instant;

/// A stretch longer than this (seconds) is a costly refusal.
const COSTLY: f64 = 0.25;
/// ... and longer than this many request intervals at the pace.
const COSTLY_INTERVALS: f64 = 3.0;
/// Probing backs off up to 2^this times its first interval.
pub(super) const MAX_DOUBLINGS: u32 = 5;
/// Each stretch keeps this share of the cost learnt before it (the cost is the limiter's,
/// not one stretch's).
const FORGET: f64 = 0.8;
/// Each refusal in a costly stretch holds everyone back for this share of what is likely
/// left of it (halving the overshoot when a window reopens sooner than its whole-second
/// `Retry-After` says).
const HOLD: f64 = 0.5;
/// One costly event paces at no less than this share of the admitted rate measured before
/// it (neither estimate of the sustained rate is right for every limiter).
const FLOOR: f64 = 0.85;
/// A costly event at no less than this share of the last one's pace: the same limit.
const SAME_LIMIT: f64 = 0.9;

#[derive(Debug, Clone, Default)]
pub(super) struct Refusals {
    /// The event whose stretch is still open.
    pub(super) open: Option<Instant>,
    /// Seconds the last closed stretch lasted.
    pub(super) last: f64,
    /// The pace at the last costly event (0: none yet).
    pub(super) ceiling: f64,
    /// Doublings of the probing interval (0: none; at most `MAX_DOUBLINGS`).
    pub(super) doublings: u32,
    /// When the last request refused in the open stretch left (sent after its event).
    pub(super) refused_until: Option<Instant>,
    /// Everyone was held back through the open stretch (it was known to be costly).
    pub(super) held: bool,
    /// When the last stretch ended (the closing request left), if it was costly.
    pub(super) costly_closed: Option<Instant>,
    /// Requests the server admitted at once before its first refusal (its burst).
    pub(super) burst: f64,
    /// The pace the first event would have set from its burst's milliseconds, for when its
    /// stretch turns out cheap (taken at the stretch's end).
    pub(super) bold: Option<f64>,
    /// The last event, and the requests admitted since (a whole cycle: stretch and run).
    pub(super) last_event: Option<Instant>,
    pub(super) admitted_since: f64,
}

impl Refusals {
    /// A congestion event at pace `pace` (requests/s before the decrease); `costly`: what
    /// `cost` says of it.
    pub(super) fn on_event(&mut self, now: Instant, pace: f64, costly: bool) {
        self.open = Some(now);
        self.last_event = Some(now);
        self.admitted_since = 0.0;
        self.refused_until = None;
        self.held = false;
        if costly {
            // The previous stretch was costly (`cost` said so): back off when the limit stands.
            if self.ceiling > 0.0 && pace >= SAME_LIMIT * self.ceiling {
                self.doublings = (self.doublings + 1).min(MAX_DOUBLINGS);
            } else {
                self.doublings = 0;
            }
            self.ceiling = pace;
        }
    }

    /// A request that left at `sent` was admitted: a stretch it postdates is over.
    /// `penalty`: the global pause the last refusal asked for (seconds, 0 if none).
    pub(super) fn on_admitted(&mut self, sent: Instant, penalty: f64) {
        self.admitted_since += 1.0;
        let Some(event) = self.open.filter(|e| sent >= *e) else {
            return;
        };
        // What the stretch cost: how long requests sent into it went on being refused. Not
        // how long until one was admitted: a client whose requests all wait out their own
        // Retry-After sends nothing for a while, which says nothing of the server. Held
        // back on purpose, a stretch without refusals keeps the cost already learnt.
        let refused = self.refused_until.map_or(0.0, |t| t.duration_since(event).as_secs_f64());
        // A limiter that showed a costly stretch keeps that reputation for a while: one
        // cheap stretch (a fixed window that happened to roll over) does not make it a bucket.
        // A limiter that showed a costly stretch keeps that reputation for a while: one
        // cheap stretch (a fixed window that happened to roll over) does not make it a bucket.
        self.last = if self.held { self.last.max(refused) } else { refused.max(FORGET * self.last) };
        self.open = None;
        self.costly_closed = (self.last > COSTLY || self.held || penalty > 0.0).then_some(sent);
    }

    /// When the last stretch ended, if it was costly: admitted rates are measured from then.
    pub(super) fn costly_closed_at(&self) -> Option<Instant> {
        self.costly_closed
    }

    /// The rate a server can sustain, from `admitted` (what it let through since the last
    /// costly stretch ended). Two estimates, each exact for one kind of limiter and low for
    /// the other, so the larger: a bucket refilled during the stretch admits its burst on
    /// top of its rate, so over `T` seconds `burst / T` more than it sustains; a fixed
    /// window admits its quota once per cycle, so what the whole cycle since the last event
    /// (its stretch included) admitted.
    pub(super) fn sustained(&self, admitted: f64, now: Instant) -> f64 {
        let (Some(closed), Some(event)) = (self.costly_closed, self.last_event) else {
            return admitted;
        };
        let run = now.saturating_duration_since(closed).as_secs_f64();
        let cycle = now.saturating_duration_since(event).as_secs_f64();
        let refilled = if run > 0.0 { admitted - self.burst / run } else { 0.0 };
        let whole = if cycle > 0.0 { self.admitted_since / cycle } else { 0.0 };
        refilled.max(whole).clamp(FLOOR * admitted, admitted)
    }

    /// A request that left at `left` was refused, asked to wait `after`. A second refusal
    /// in a stretch known to be costly (the limiter has not reopened since the event) holds
    /// everyone back: for the wait asked, at most the cost learnt. Returns that hold. (Not
    /// the event itself: against a fixed window about to roll over the stretch is short.)
    pub(super) fn on_refused(&mut self, left: Instant, after: Duration, penalty: f64, rate: f64) -> Option<Duration> {
        let event = self.open.filter(|event| left >= *event)?;
        self.refused_until = Some(self.refused_until.map_or(left, |t| t.max(left)));
        let cost = self.cost(penalty, rate);
        if cost <= 0.0 {
            return None;
        }
        self.held = true;
        let left_of_it = Duration::from_secs_f64(cost).saturating_sub(left.duration_since(event));
        Some(after.min(left_of_it).mul_f64(HOLD))
    }

    /// Whether 429s now belong to the stretch of the last event.
    pub(super) fn in_stretch(&self) -> bool {
        self.open.is_some()
    }

    /// Seconds one probe past the limit costs at pace `rate`: a global pause's length
    /// (`penalty`), else the last stretch if it was costly, else 0 (cheap: probe freely).
    pub(super) fn cost(&self, penalty: f64, rate: f64) -> f64 {
        let costly = self.last > COSTLY && self.last * rate > COSTLY_INTERVALS;
        penalty.max(if costly { self.last } else { 0.0 })
    }

    /// The multiple of the base probing interval.
    pub(super) fn backoff(&self) -> f64 {
        f64::from(1u32 << self.doublings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_stretch_costs_how_long_requests_sent_into_it_were_refused() {
        let t0 = Instant::now();
        let mut r = Refusals::default();
        // A bucket: the next request after the event finds a token.
        r.on_event(t0, 45.0, false);
        assert!(r.in_stretch());
        r.on_admitted(at(t0, 25), 0.0);
        assert!(!r.in_stretch());
        assert_eq!(r.cost(0.0, 40.0), 0.0, "cheap");
        // A penalty: everything sent for a second is refused.
        r.on_event(at(t0, 1000), 45.0, false);
        for ms in (1000..2000).step_by(25) {
            r.on_refused(at(t0, ms), Duration::from_secs(1), 0.0, 40.0);
        }
        r.on_admitted(at(t0, 2010), 0.0);
        assert!((r.cost(0.0, 40.0) - 0.975).abs() < 1e-9, "{}", r.cost(0.0, 40.0));
        assert!(r.costly_closed_at().is_some());
        // A client that sent nothing for a second (its requests waited out their own
        // Retry-After) learnt nothing of the server: not costly.
        let mut quiet = Refusals::default();
        quiet.on_event(t0, 45.0, false);
        quiet.on_admitted(at(t0, 1000), 0.0);
        assert_eq!(quiet.cost(0.0, 40.0), 0.0);
        // A long Retry-After is costly for its length whatever was measured.
        assert_eq!(quiet.cost(5.0, 40.0), 5.0);
        // At a very low pace a second is only a few intervals: a bucket's, not a penalty's.
        assert_eq!(r.cost(0.0, 2.0), 0.0);
    }

    #[test]
    fn a_second_refusal_in_a_costly_stretch_holds_everyone_for_half_of_what_is_left() {
        let t0 = Instant::now();
        let mut r = Refusals { last: 1.0, ..Refusals::default() };
        r.on_event(t0, 45.0, true);
        let hold = r.on_refused(at(t0, 100), Duration::from_secs(1), 0.0, 40.0).expect("held");
        assert_eq!(hold, Duration::from_millis(450), "half of the 0.9 s likely left");
        // Cheap limiters are never held.
        let mut cheap = Refusals::default();
        cheap.on_event(t0, 45.0, false);
        assert_eq!(cheap.on_refused(at(t0, 5), Duration::from_secs(1), 0.0, 40.0), None);
        // A refusal of a request sent before the event is not part of its stretch.
        let mut r = Refusals { last: 1.0, ..Refusals::default() };
        r.on_event(at(t0, 100), 45.0, true);
        assert_eq!(r.on_refused(t0, Duration::from_secs(1), 0.0, 40.0), None);
    }

    #[test]
    fn probing_backs_off_while_costly_events_come_at_the_same_pace() {
        let t0 = Instant::now();
        let mut r = Refusals::default();
        r.on_event(t0, 42.0, true);
        assert_eq!(r.backoff(), 1.0, "the first sets the ceiling");
        for (i, pace) in [41.0, 40.5, 41.5].into_iter().enumerate() {
            r.on_event(at(t0, 1000 * (i as u64 + 1)), pace, true);
            assert_eq!(r.backoff(), f64::from(2u32 << i));
        }
        // The limit fell: probing starts over.
        r.on_event(at(t0, 9000), 20.0, true);
        assert_eq!(r.backoff(), 1.0);
        for i in 0..10 {
            r.on_event(at(t0, 10_000 + i), 20.0, true);
        }
        assert_eq!(r.backoff(), f64::from(1u32 << MAX_DOUBLINGS), "bounded");
    }

    #[test]
    fn the_sustained_rate_is_exact_for_a_refilled_bucket_and_for_a_fixed_window() {
        let t0 = Instant::now();
        // A 40/s bucket of 20 behind a penalty: refilled during the penalty, then at 45/s
        // the pace drains it in 4 s, admitting 180 (its 20 plus 4 s x 40).
        let mut r = Refusals { burst: 20.0, ..Refusals::default() };
        r.on_event(t0, 45.0, true);
        r.on_refused(at(t0, 500), Duration::from_secs(1), 0.0, 45.0);
        for _ in 0..180 {
            r.on_admitted(at(t0, 1000), 0.0);
        }
        let sustained = r.sustained(45.0, at(t0, 5000));
        assert!((sustained - 40.0).abs() < 1e-9, "{sustained}");
        // A fixed window of 80 per 2 s: each cycle from one exhaustion to the next admits
        // the quota, however fast it was spent.
        let mut w = Refusals { burst: 80.0, ..Refusals::default() };
        w.on_event(t0, 60.0, true);
        w.on_refused(at(t0, 600), Duration::from_secs(1), 0.0, 60.0);
        for _ in 0..80 {
            w.on_admitted(at(t0, 700), 0.0);
        }
        let sustained = w.sustained(60.0, at(t0, 2000));
        assert!((sustained - 51.0).abs() < 1e-9, "never below 85% of the admitted rate: {sustained}");
        let sustained = w.sustained(45.0, at(t0, 2000));
        assert!((sustained - 40.0).abs() < 1e-9, "{sustained}");
    }
}
