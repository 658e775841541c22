//! The pacing gate every request passes before it is sent (hand-written: the rate must
//! change at run time, which fixed-quota limiters do not allow).
//!
//! - A global pause: a 429's `Retry-After` holds back *every* worker, not just the one that
//!   was refused, so a fleet of workers does not keep hammering a server that said "wait".
//! - An optional fixed ceiling (`--max-rps`) for users who know their limit.
//! - Adaptive pacing (AIMD): after a 429 the rate drops to a fraction of what was achieved;
//!   while no 429 comes it creeps back up, so a run converges just under the server's limit
//!   instead of bouncing off it. `X-RateLimit-Remaining`/`-Reset` headers, when sent, set the
//!   rate directly: spread what remains over the time left in the window.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct State {
    /// Earliest time the next request may start.
    next_slot: Instant,
    /// No request starts before this (set by `Retry-After`).
    paused_until: Instant,
    /// Current adaptive rate in requests/s; `None` while no limit has been seen.
    rate: Option<f64>,
    /// Requests started in the current one-second window, to estimate achieved rate.
    window_start: Instant,
    window_count: u32,
    achieved: f64,
    last_increase: Instant,
}

#[derive(Debug)]
pub struct Pacer {
    max_rps: Option<f64>,
    adaptive: bool,
    state: Mutex<State>,
}

const MIN_RATE: f64 = 0.5;

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
                window_start: now,
                window_count: 0,
                achieved: 0.0,
                last_increase: now,
            }),
        }
    }

    fn effective_rate(&self, st: &State) -> Option<f64> {
        match (self.max_rps, st.rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wait for this request's slot.
    pub async fn wait(&self) {
        let start = {
            let mut st = self.state.lock().expect("pacer lock");
            let now = Instant::now();
            let start = now.max(st.next_slot).max(st.paused_until);
            if let Some(rate) = self.effective_rate(&st) {
                st.next_slot = start + Duration::from_secs_f64(1.0 / rate);
            }
            // Measure the achieved request rate over ~1 s windows.
            if start.duration_since(st.window_start) >= Duration::from_secs(1) {
                let secs = start.duration_since(st.window_start).as_secs_f64();
                st.achieved = st.window_count as f64 / secs;
                st.window_start = start;
                st.window_count = 0;
            }
            st.window_count += 1;
            // Additive increase: +5% per second without a 429.
            if self.adaptive {
                if let Some(rate) = st.rate {
                    if now.duration_since(st.last_increase) >= Duration::from_secs(1) {
                        st.rate = Some(rate * 1.05 + 0.5);
                        st.last_increase = now;
                    }
                }
            }
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// A 429 arrived: hold everyone back for `after`, and (adaptive) lower the rate.
    pub fn on_rate_limited(&self, after: Duration) {
        let mut st = self.state.lock().expect("pacer lock");
        let now = Instant::now();
        st.paused_until = st.paused_until.max(now + after);
        if self.adaptive {
            let basis = match st.rate {
                Some(r) => r.min(st.achieved.max(MIN_RATE)),
                None => st.achieved.max(MIN_RATE),
            };
            st.rate = Some((basis * 0.7).max(MIN_RATE));
            st.last_increase = now + after;
        }
    }

    /// The server told us its budget: spread what remains over the time left.
    pub fn on_rate_headers(&self, remaining: f64, reset_in: Duration) {
        if !self.adaptive {
            return;
        }
        let mut st = self.state.lock().expect("pacer lock");
        let secs = reset_in.as_secs_f64().max(0.05);
        // Keep a small reserve so concurrent in-flight requests do not overshoot.
        let budget = (remaining - 1.0).max(0.0);
        if budget / secs < st.achieved * 1.5 || st.rate.is_some() {
            st.rate = Some((budget / secs).max(MIN_RATE));
            st.last_increase = Instant::now();
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
    async fn retry_after_holds_back_every_request() {
        let p = Pacer::new(None, false);
        let t0 = Instant::now();
        p.on_rate_limited(Duration::from_secs(3));
        p.wait().await;
        assert!(t0.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn max_rps_spaces_requests() {
        let p = Pacer::new(Some(10.0), false);
        let t0 = Instant::now();
        for _ in 0..11 {
            p.wait().await;
        }
        let e = t0.elapsed();
        assert!(e >= Duration::from_millis(999) && e < Duration::from_millis(1100), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_rate_drops_on_429_and_recovers() {
        let p = Pacer::new(None, true);
        assert_eq!(p.current_rate(), None);
        for _ in 0..200 {
            p.wait().await;
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        p.on_rate_limited(Duration::from_millis(100));
        let r1 = p.current_rate().unwrap();
        assert!(r1 < 100.0 && r1 >= MIN_RATE, "{r1}");
        for _ in 0..300 {
            p.wait().await;
        }
        assert!(p.current_rate().unwrap() > r1);
    }
}
