//! A cap on requests in flight, learnt from the refusals themselves (one place decides).
//!
//! Some limiters count requests in flight, not requests per second. A pace cannot fill
//! them: any bunching puts one request too many in flight and it is refused, so the rate
//! pacing settles well under the limit. Each request is counted in flight from when it
//! leaves until its answer is read, and its answer is recorded against that count (its
//! *level*: how many were in flight with it, itself included). When refusals concentrate
//! at the levels above some `k` (a large share of the requests sent there refused) while
//! the requests sent at `k` or fewer are admitted (a share at least ten times smaller, on
//! enough of them), the run caps requests in flight at the largest such `k`.
//!
//! Only answers to requests sent once the run paces count (from its first 429: before it,
//! an unpaced burst is refused at its top whatever the limiter), and refusals in a row count
//! once (a penalty window refuses whatever was in flight while it lasts).
//!
//! A limiter about rate (a token bucket, fixed windows, a penalty window) refuses by time,
//! not by level: its refusals fall on every level alike and no cap is learnt, or (at a
//! latency that keeps many in flight, bunches drain a bucket faster) one above the levels
//! the pace needs, which seldom binds. Every `PROBE` (doubling after each trial refused,
//! like the pace's probing) the cap is raised by one for a trial; if the requests sent at
//! the new level are admitted the cap is dropped (a limiter that counts in flight teaches
//! it again within a few refusals), if they are refused it stays.
//!
//! Counted per process: with a shared pace file (`shared`) the rate is shared, a cap is
//! each run's own (two runs each capped at the limit overshoot it, and learn lower caps).

use std::time::Duration;
use tokio::time::Instant;

/// Levels above this are counted as this one (the concurrency budget is rarely higher).
const LEVELS: usize = 64;
/// Each answer recorded keeps this share of the evidence before it (the limit may move).
const DECAY: f64 = 0.998;
/// Refusals (decayed) above a level needed before it can be a cap: two, the first within
/// the last ~350 answers.
const MIN_REFUSED: f64 = 1.5;
/// Answers (decayed) at or below a level needed before it is "reliably admitted".
const MIN_BELOW: f64 = 20.0;
/// The share of requests refused above the cap, at least.
const CONCENTRATED: f64 = 0.15;
/// The share refused at or below the cap, at most this fraction of the share above.
const SEPARATION: f64 = 0.1;
/// The first trial of a higher cap comes this long after the cap was learnt.
const PROBE: Duration = Duration::from_secs(5);
/// Trials back off up to 2^this times `PROBE`.
const MAX_DOUBLINGS: u32 = 5;
/// A trial fails on a refusal at the trial level, at `CONCENTRATED` or more of its answers
/// (a trial past the cap is expensive: the pace alone holds the count meanwhile) ...
const TRIAL_REFUSED: f64 = 0.99;
/// ... and passes on this many answers there with at most `TRIAL_CLEAN` refused.
const TRIAL_ANSWERS: f64 = 20.0;
const TRIAL_CLEAN: f64 = 0.05;

/// What one answer means for the pace (`Concurrency::answered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// A refusal sent above the cap: the count in flight's, not the rate's.
    pub(super) of_the_cap: bool,
    /// A cap (or a lower one) was learnt from this answer.
    pub(super) learnt: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Concurrency {
    in_flight: u32,
    /// Decayed (admitted, refused) answers per level (index 0: level 1).
    answers: Vec<(f64, f64)>,
    /// The learnt cap, if any.
    cap: Option<u32>,
    /// A trial of `cap + 1` is under way.
    trial: bool,
    next_probe: Option<Instant>,
    doublings: u32,
    /// The last answer recorded was a refusal.
    refusing: bool,
    /// Answers are evidence from now on (set at the run's first 429: `Pacer::enter`).
    pub(super) learning: bool,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            in_flight: 0,
            answers: vec![(0.0, 0.0); LEVELS],
            cap: None,
            trial: false,
            next_probe: None,
            doublings: 0,
            refusing: false,
            learning: false,
        }
    }
}

impl Concurrency {
    /// The limit requests in flight are held to now, if any (a trial's while one runs).
    pub(super) fn limit(&self) -> Option<u32> {
        self.cap.map(|c| c + u32::from(self.trial))
    }

    /// A request may leave now if it stays within the limit: counted in flight, and its level.
    /// A due trial starts here (the cap rises by one).
    pub(super) fn try_enter(&mut self, now: Instant) -> Option<u32> {
        if let (Some(cap), false) = (self.cap, self.trial) {
            if self.next_probe.is_some_and(|t| now >= t) {
                self.trial = true;
                // What the trial level showed before says nothing about the limit now.
                self.answers[index(cap + 1)] = (0.0, 0.0);
            }
        }
        if self.limit().is_some_and(|l| self.in_flight >= l) {
            return None;
        }
        self.in_flight += 1;
        Some(self.in_flight)
    }

    /// A request counted in flight was answered (or failed): no longer in flight.
    pub(super) fn leave(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The request sent at `level` was refused (a 429) or admitted (anything else). Returns
    /// what the pace must know: whether a refusal is the cap's (sent above the cap now in
    /// force: a trial, or what taught it), and whether a cap was learnt just now.
    pub(super) fn answered(&mut self, level: u32, refused: bool, now: Instant) -> Verdict {
        let learnt_before = self.cap;
        for a in &mut self.answers {
            a.0 *= DECAY;
            a.1 *= DECAY;
        }
        // Refusals in a row are one event: a limiter that refuses everyone for a while (a
        // penalty, the rest of a window) refuses whatever level was in flight then, and
        // counting each would make a few such stretches look like a pattern.
        let a = &mut self.answers[index(level)];
        if !refused {
            a.0 += 1.0;
        } else if !self.refusing {
            a.1 += 1.0;
        }
        self.refusing = refused;
        if refused {
            let shown: Vec<String> = self.answers[..8].iter().map(|(a, r)| format!("{a:.0}/{r:.1}")).collect();
            tracing::debug!(answers = shown.join(" "), "admitted/refused per count in flight");
        }
        if let (Some(cap), true) = (self.cap, self.trial) {
            let (admitted, refused) = self.answers[index(cap + 1)];
            if refused >= TRIAL_REFUSED && refused >= CONCENTRATED * (admitted + refused) {
                // The limit stands: keep the cap, try again later.
                self.trial = false;
                self.doublings = (self.doublings + 1).min(MAX_DOUBLINGS);
                self.next_probe = Some(now + PROBE * (1u32 << self.doublings));
            } else if admitted + refused >= TRIAL_ANSWERS && refused <= TRIAL_CLEAN * (admitted + refused) {
                // Admitted above the cap: no cap until refusals teach one again.
                tracing::debug!(cap, "requests in flight: a trial above the cap was admitted; cap dropped");
                self.cap = None;
                self.trial = false;
                self.next_probe = None;
                self.doublings = 0;
                for a in &mut self.answers[index(cap + 2)..] {
                    *a = (0.0, 0.0);
                }
            }
        }
        // A cap only falls here (it rises by trials): evidence above it fades while nothing
        // is sent there.
        if let Some(k) = self.learn().filter(|k| self.limit().is_none_or(|l| *k < l)) {
            if self.cap.is_none_or(|c| k < c) {
                tracing::info!(
                    "the API refuses requests sent with more than {k} in flight: sending at most {k} requests in flight from now on (--concurrency {k} starts there)"
                );
            }
            if self.trial && self.cap == Some(k) {
                self.doublings = (self.doublings + 1).min(MAX_DOUBLINGS);
            }
            self.cap = Some(k);
            self.trial = false;
            self.next_probe = Some(now + PROBE * (1u32 << self.doublings));
        }
        Verdict {
            of_the_cap: refused && self.cap.is_some_and(|c| level > c),
            learnt: self.cap.is_some_and(|c| learnt_before.is_none_or(|b| c < b)),
        }
    }

    /// The largest level `k` such that the requests sent at `k` or fewer in flight are
    /// reliably admitted while those sent with more are refused.
    fn learn(&self) -> Option<u32> {
        let (mut below, mut above) = ((0.0, 0.0), self.answers.iter().fold((0.0, 0.0), |s, a| (s.0 + a.0, s.1 + a.1)));
        let mut found = None;
        for (i, a) in self.answers.iter().enumerate().take(LEVELS - 1) {
            below = (below.0 + a.0, below.1 + a.1);
            above = (above.0 - a.0, above.1 - a.1);
            let (n_below, n_above) = (below.0 + below.1, above.0 + above.1);
            if above.1 < MIN_REFUSED || n_below < MIN_BELOW {
                continue;
            }
            let share_above = above.1 / n_above;
            if share_above >= CONCENTRATED && below.1 / n_below <= SEPARATION * share_above {
                found = Some(i as u32 + 1);
            }
        }
        found
    }
}

fn index(level: u32) -> usize {
    (level as usize).clamp(1, LEVELS) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// `n` answers at `level`, every `every`-th of them a 429 (0: none).
    fn feed(c: &mut Concurrency, now: Instant, level: u32, n: u32, every: u32) {
        for i in 1..=n {
            c.answered(level, every > 0 && i % every == 0, now);
        }
    }

    /// A 429 at `level`, then an admitted answer at `below` (so refusals do not run together).
    fn refused_at(c: &mut Concurrency, now: Instant, level: u32, below: u32) {
        c.answered(level, true, now);
        c.answered(below, false, now);
    }

    #[test]
    fn refusals_above_a_level_admitted_below_it_cap_there() {
        let t0 = Instant::now();
        let mut c = Concurrency::default();
        feed(&mut c, t0, 1, 30, 0);
        feed(&mut c, t0, 2, 30, 0);
        assert_eq!(c.limit(), None, "nothing refused: no cap");
        refused_at(&mut c, t0, 3, 2);
        assert_eq!(c.limit(), None, "one refusal is not yet evidence");
        c.answered(2, false, t0);
        let taught = c.answered(3, true, t0);
        assert_eq!(c.limit(), Some(2));
        assert_eq!(taught, Verdict { of_the_cap: true, learnt: true }, "the cap's refusal, not the rate's");
        assert_eq!(c.answered(3, true, t0), Verdict { of_the_cap: true, learnt: false });
        assert_eq!(c.answered(2, true, t0), Verdict { of_the_cap: false, learnt: false }, "within the cap: the rate's");
        // At the cap, a third request waits until one is answered.
        assert_eq!((c.try_enter(t0), c.try_enter(t0), c.try_enter(t0)), (Some(1), Some(2), None));
        c.leave();
        assert_eq!(c.try_enter(t0), Some(2));
    }

    #[test]
    fn refusals_in_a_row_are_one_event() {
        // A penalty window refusing everyone for a while: a run of 429s at the top level.
        let t0 = Instant::now();
        let mut c = Concurrency::default();
        feed(&mut c, t0, 2, 40, 0);
        for _ in 0..10 {
            c.answered(3, true, t0);
        }
        assert_eq!(c.limit(), None);
        c.answered(2, false, t0);
        c.answered(3, true, t0);
        assert_eq!(c.limit(), Some(2), "a second, separate refusal is");
    }

    #[test]
    fn refusals_on_every_level_alike_learn_no_cap() {
        // A rate limiter: every 10th refused wherever the requests were sent.
        let t0 = Instant::now();
        let mut c = Concurrency::default();
        for _ in 0..20 {
            for level in 1..=8 {
                feed(&mut c, t0, level, 10, 10);
            }
        }
        assert_eq!(c.limit(), None);
        // More refused above 4 (bunches draining a bucket), but not far more: still none.
        for _ in 0..20 {
            feed(&mut c, t0, 2, 10, 10);
            feed(&mut c, t0, 6, 9, 3);
        }
        assert_eq!(c.limit(), None);
        // Refused at one in flight: no cap can help.
        let mut c = Concurrency::default();
        feed(&mut c, t0, 1, 40, 2);
        assert_eq!(c.limit(), None);
    }

    #[test]
    fn answers_before_learning_starts_are_not_recorded_by_the_pacer_but_leave_still_counts() {
        let t0 = Instant::now();
        let mut c = Concurrency::default();
        assert_eq!((c.try_enter(t0), c.try_enter(t0)), (Some(1), Some(2)));
        c.leave();
        c.leave();
        c.leave();
        assert_eq!(c.try_enter(t0), Some(1), "never below zero in flight");
    }

    #[test]
    fn a_trial_above_the_cap_backs_off_when_refused_and_drops_the_cap_when_admitted() {
        let t0 = Instant::now();
        let mut c = Concurrency::default();
        feed(&mut c, t0, 2, 40, 0);
        refused_at(&mut c, t0, 3, 2);
        refused_at(&mut c, t0, 3, 2);
        assert_eq!(c.limit(), Some(2));
        // Not yet due.
        assert!(c.try_enter(at(t0, 4_999)).is_some());
        c.leave();
        assert_eq!(c.limit(), Some(2));
        // Due: the cap rises by one, and a refusal there, among few admitted, ends the trial.
        assert!(c.try_enter(at(t0, 5_000)).is_some());
        c.leave();
        assert_eq!(c.limit(), Some(3));
        feed(&mut c, at(t0, 5_100), 3, 3, 0);
        assert_eq!(c.limit(), Some(3));
        refused_at(&mut c, at(t0, 5_100), 3, 2);
        assert_eq!(c.limit(), Some(2));
        // The next trial waits twice as long.
        assert!(c.try_enter(at(t0, 5_100 + 9_999)).is_some());
        c.leave();
        assert_eq!(c.limit(), Some(2));
        assert!(c.try_enter(at(t0, 5_100 + 10_000)).is_some());
        c.leave();
        assert_eq!(c.limit(), Some(3));
        // The limit rose: admitted at the trial level, the cap goes.
        feed(&mut c, at(t0, 15_200), 3, 19, 0);
        assert_eq!(c.limit(), Some(3));
        feed(&mut c, at(t0, 15_200), 3, 2, 0);
        assert_eq!(c.limit(), None);
        assert_eq!(c.try_enter(at(t0, 15_300)), Some(1));
    }

    #[test]
    fn a_cap_stays_while_nothing_is_sent_above_it_and_falls_when_refusals_come_lower() {
        let t0 = Instant::now();
        let mut c = Concurrency::default();
        feed(&mut c, t0, 3, 40, 0);
        refused_at(&mut c, t0, 4, 3);
        refused_at(&mut c, t0, 4, 3);
        assert_eq!(c.limit(), Some(3));
        // The evidence above the cap fades as answers come (nothing is sent there now):
        // the cap stays until a trial.
        feed(&mut c, t0, 3, 2000, 0);
        assert_eq!(c.limit(), Some(3));
        // Refused at 2 while 1 is admitted: the limit fell.
        let mut c = Concurrency::default();
        feed(&mut c, t0, 1, 40, 0);
        feed(&mut c, t0, 3, 40, 0);
        refused_at(&mut c, t0, 4, 3);
        refused_at(&mut c, t0, 4, 3);
        assert_eq!(c.limit(), Some(3));
        for _ in 0..20 {
            refused_at(&mut c, t0, 2, 1);
            refused_at(&mut c, t0, 3, 1);
        }
        assert_eq!(c.limit(), Some(1));
    }
}
