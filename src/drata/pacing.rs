//! The pacing gate every request passes before it is sent (hand-written: the rate must
//! change at run time, which fixed-quota limiters such as `governor` do not allow).
//!
//! - An optional fixed ceiling (`--max-rps`) for users who know their limit.
//! - Adaptive pacing (AIMD with fast recovery), the default, which needs no number: until
//!   the first 429 the only bound is the concurrency budget. A 429 is a congestion event
//!   (at most one per 250 ms, so the 429s of requests already in flight count once): the
//!   rate it happened at is remembered as the ceiling and the pace drops to 90% of it.
//!   429s soon after a decrease are the server's empty bucket refilling: they cut the pace
//!   further but only a run of them lowers the ceiling. Without 429s the pace climbs back
//!   quickly to just under the ceiling, then probes above it, slowly at first and faster
//!   the longer no 429 comes (so a ceiling that was set too low is left within seconds).
//!   The first ceiling is the rate the server admitted before its first 429.
//! - Long stops are global: a `Retry-After` over two seconds, or `X-RateLimit-Remaining: 0`
//!   with a reset over two seconds away, holds back *every* request, not only the refused one,
//!   so a fleet of workers does not keep hitting a server that said "wait". Short
//!   `Retry-After`s are honoured by the refused request alone; pausing everyone for them
//!   would waste the server's refill.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const MIN_RATE: f64 = 0.2;
const WINDOW: Duration = Duration::from_secs(2);
const DECREASE: f64 = 0.9;
/// A 429 within `REPEAT_WINDOW` of the last decrease cuts the pace again; a run of
/// `REPEATS_LOWER_CEILING` of them lowers the ceiling too.
const REPEAT_DECREASE: f64 = 0.9;
const REPEAT_WINDOW: Duration = Duration::from_millis(1500);
const REPEATS_LOWER_CEILING: u32 = 3;
/// Fast recovery aims at this fraction of the last ceiling.
const RECOVER_TO: f64 = 0.98;
const STEP: Duration = Duration::from_millis(200);
/// Probing growth per `STEP` once recovered: starts at ~1.5%/s and grows with every step
/// without a 429, up to `PROBE_MAX` per step.
const PROBE: f64 = 0.003;
const PROBE_MAX: f64 = 0.03;
/// A wait longer than this is applied to every request.
const GLOBAL_PAUSE_OVER: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct State {
    next_slot: Instant,
    paused_until: Instant,
    /// Adaptive rate in requests/s; `None` until the first 429.
    rate: Option<f64>,
    /// The rate at the last congestion event.
    ceiling: f64,
    /// 429 events in a row, each within `REPEAT_WINDOW` of the previous decrease.
    repeats: u32,
    /// Steps spent probing above the ceiling since the last 429.
    probe_steps: u32,
    /// When requests the server admitted (anything but 429) completed, last `WINDOW` only.
    admitted: VecDeque<Instant>,
    first_request: Option<Instant>,
    last_increase: Instant,
    last_decrease: Option<Instant>,
}

/// The next slot (or the end of a server-imposed pause) is past the run deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastDeadline {
    pub wait: Duration,
}

#[derive(Debug)]
pub struct Pacer {
    max_rps: Option<f64>,
    adaptive: bool,
    state: Mutex<State>,
}

impl Pacer {
    pub fn new(max_rps: Option<f64>, adaptive: bool) -> Self {
        let now = Instant::now();
        Pacer {
            max_rps: max_rps.filter(|r| *r > 0.0),
            adaptive,
            state: Mutex::new(State {
                next_slot: now,
                paused_until: now,
                rate: None,
                ceiling: 0.0,
                repeats: 0,
                probe_steps: 0,
                admitted: VecDeque::new(),
                first_request: None,
                last_increase: now,
                last_decrease: None,
            }),
        }
    }

    fn effective_rate(&self, st: &State) -> Option<f64> {
        match (self.max_rps, st.rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wait for this request's slot. A slot is claimed only when it is due (never reserved
    /// ahead), so a rate change applies at once to every waiting request. Fails at once,
    /// without sleeping, when the slot lies beyond `deadline`.
    pub async fn wait(&self, deadline: Option<Instant>) -> Result<(), PastDeadline> {
        loop {
            let due = {
                let mut st = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                st.first_request.get_or_insert(now);
                if let Some(rate) = st.rate {
                    if now.duration_since(st.last_increase) >= STEP {
                        let target = st.ceiling * RECOVER_TO;
                        st.rate = Some(if rate < target * 0.995 {
                            rate + (target - rate) * 0.25
                        } else {
                            st.probe_steps += 1;
                            let growth = (PROBE * (1.0 + st.probe_steps as f64 / 5.0)).min(PROBE_MAX);
                            rate * (1.0 + growth) + 0.01
                        });
                        st.last_increase = now;
                    }
                }
                let due = st.next_slot.max(st.paused_until);
                if due <= now {
                    if let Some(rate) = self.effective_rate(&st) {
                        let interval = Duration::from_secs_f64(1.0 / rate);
                        // Keep the average when timers fire late, but never bank a burst.
                        st.next_slot = st.next_slot.max(now.checked_sub(interval).unwrap_or(now)) + interval;
                    }
                    return Ok(());
                }
                if deadline.is_some_and(|d| due >= d) {
                    return Err(PastDeadline { wait: due - now });
                }
                due
            };
            tokio::time::sleep_until(due).await;
        }
    }

    /// A response other than 429 arrived: the server admitted a request.
    pub fn on_admitted(&self) {
        if !self.adaptive {
            return;
        }
        let mut st = self.state.lock().expect("pacer lock");
        let now = Instant::now();
        st.admitted.push_back(now);
        while st.admitted.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            st.admitted.pop_front();
        }
    }

    /// A 429 arrived with the server's requested wait.
    pub fn on_rate_limited(&self, after: Duration) {
        let mut st = self.state.lock().expect("pacer lock");
        let now = Instant::now();
        if after > GLOBAL_PAUSE_OVER {
            st.paused_until = st.paused_until.max(now + after);
        }
        if !self.adaptive {
            return;
        }
        // One decrease per congestion event: the 429s of requests already in flight when
        // the limit was reached say nothing new.
        if st.last_decrease.is_some_and(|t| now.duration_since(t) < Duration::from_millis(250)) {
            return;
        }
        let repeated = st.last_decrease.is_some_and(|t| now.duration_since(t) < REPEAT_WINDOW);
        st.probe_steps = 0;
        match st.rate {
            // Still refused soon after slowing down: the bucket is refilling; only a run of
            // these says the ceiling itself was too optimistic.
            Some(r) if repeated => {
                st.repeats += 1;
                if st.repeats >= REPEATS_LOWER_CEILING {
                    st.ceiling = st.ceiling.min(r);
                }
                st.rate = Some((r * REPEAT_DECREASE).max(MIN_RATE));
            }
            Some(r) => {
                st.repeats = 0;
                st.ceiling = r;
                st.rate = Some((r * DECREASE).max(MIN_RATE));
            }
            None => {
                let span = now
                    .duration_since(st.first_request.unwrap_or(now))
                    .clamp(Duration::from_millis(100), WINDOW)
                    .as_secs_f64();
                let admitted = (st.admitted.len() as f64 / span).max(MIN_RATE);
                st.ceiling = admitted;
                st.rate = Some((admitted * DECREASE).max(MIN_RATE));
            }
        }
        st.last_decrease = Some(now);
        st.last_increase = now;
        let ceiling = st.ceiling;
        tracing::debug!(ceiling, rate = st.rate, "rate limited: pacing adjusted");
    }

    /// `X-RateLimit-Remaining`/`-Reset`: an exhausted quota with a distant reset is a
    /// global stop until the reset.
    pub fn on_rate_headers(&self, remaining: f64, reset_in: Duration) {
        if remaining < 1.0 && reset_in > GLOBAL_PAUSE_OVER && reset_in <= Duration::from_secs(300) {
            let mut st = self.state.lock().expect("pacer lock");
            let until = Instant::now() + reset_in;
            st.paused_until = st.paused_until.max(until);
        }
    }

    pub fn current_rate(&self) -> Option<f64> {
        let st = self.state.lock().expect("pacer lock");
        self.effective_rate(&st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn long_retry_after_holds_back_every_request() {
        let p = Pacer::new(None, false);
        let t0 = Instant::now();
        p.on_rate_limited(Duration::from_secs(3));
        p.wait(None).await.unwrap();
        assert!(t0.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_quota_pauses_until_reset() {
        let p = Pacer::new(None, true);
        let t0 = Instant::now();
        p.on_rate_headers(0.0, Duration::from_secs(5));
        let soon = Some(Instant::now() + Duration::from_secs(1));
        assert!(p.wait(soon).await.is_err(), "a pause past the deadline fails without sleeping");
        assert_eq!(t0.elapsed(), Duration::ZERO);
        p.wait(None).await.unwrap();
        assert!(t0.elapsed() >= Duration::from_secs(5));
        // A bucket that refills within a second is not a stop.
        let t1 = Instant::now();
        p.on_rate_headers(0.0, Duration::from_millis(200));
        p.wait(None).await.unwrap();
        assert!(t1.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn max_rps_spaces_requests() {
        let p = Pacer::new(Some(10.0), false);
        let t0 = Instant::now();
        for _ in 0..11 {
            p.wait(None).await.unwrap();
        }
        let e = t0.elapsed();
        assert!(e >= Duration::from_millis(999) && e < Duration::from_millis(1100), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_rate_settles_under_the_admitted_rate_and_recovers() {
        let p = Pacer::new(None, true);
        assert_eq!(p.current_rate(), None);
        // The server admits 50 requests/s for 2 s.
        for _ in 0..100 {
            p.wait(None).await.unwrap();
            p.on_admitted();
            tokio::time::advance(Duration::from_millis(20)).await;
        }
        p.on_rate_limited(Duration::from_millis(100));
        let r1 = p.current_rate().unwrap();
        assert!((40.0..50.0).contains(&r1), "{r1}");
        // A burst of 429s from requests already in flight is one signal.
        p.on_rate_limited(Duration::from_millis(100));
        p.on_rate_limited(Duration::from_millis(100));
        assert_eq!(p.current_rate().unwrap(), r1);
        for _ in 0..200 {
            p.wait(None).await.unwrap();
        }
        assert!(p.current_rate().unwrap() > r1);
    }
}
