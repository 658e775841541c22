//! The pacing gate every request passes before it is sent (hand-written: the rate must
//! change at run time, which fixed-quota limiters such as `governor` do not allow).
//!
//! - An optional fixed ceiling (`--max-rps`) for users who know their limit.
//! - Adaptive pacing, the default, which needs no number: until the first 429 the only
//!   bound is the concurrency budget. A 429 is a congestion event only for a request sent
//!   after the last decrease (the 429s of requests sent at the old pace say nothing new).
//!   At an event the pace is set from what the server *admitted* over the last two seconds
//!   (counted from its first 429, once its burst was spent): while the client sends faster
//!   than the limit that is the limit itself. Sending faster than it admitted, the pace
//!   drops to 90% of it (at most two such steps at once: after a stretch of little demand
//!   the admitted rate undercounts the server, and a pace still too high draws the next 429
//!   within a request or two); not faster, the 429 is a bunch and the pace only drops to
//!   90% of the admitted rate if above it, so a run of them cannot ratchet it down. The
//!   next request after an event keeps one interval's distance (the bucket is empty).
//!   An admitted rate resting on fewer than ten responses (and less than two seconds since
//!   the first 429) measures the client's demand more than the server: such an event drops
//!   the pace by at most two steps and does not end slow start.
//! - Between events the pace grows with every request sent: 1% a request after the first
//!   429 (a rough estimate: slow start), 0.1% after the first measured one (~5%/s at 50 requests/s), so
//!   it keeps probing just above the limit and the server's bucket stays drained, at about
//!   one 429 per hundred requests. It also grows by at least ~1%/s (doubling each second in
//!   slow start) of time spent held back, so a very low pace does not creep back one request
//!   at a time; and after 4 s without a 429 that rate doubles every 2 s (a limit that rose
//!   is found within seconds). Growth is capped at four times what the server admits.
//!   When a refusal is costly (`refusals`: a penalty window refusing everyone, the rest
//!   of a fixed window, a long `Retry-After`), each probe past the limit costs everyone
//!   that stretch: growth then slows so that climbing back a decrease takes 20 stretches'
//!   worth of time (doubling with each costly event at the same pace), the quiet-time
//!   speed-up waits as long, and an event paces at 95% of the rate the server sustains
//!   (`Refusals::sustained`) rather than 90% of its last two seconds.
//! - One event per refusal stretch: 429s for requests sent after an event are part of it
//!   until something sent after it is admitted. The first 429 paces at the server's first
//!   burst spread over the wait it asked for (not over the milliseconds the burst took).
//!   A request granted before a slowdown asks again once it has a connection slot.
//! - Known limits as a starting point: for Drata's own hosts (`documented_limit`) the
//!   adaptive pace starts at the documented 500 requests/minute and holds there, without
//!   probing, so a normal run sees no 429 (not even the first burst). A 429 ends it (the
//!   server's limit is lower: paced as after a first 429 anywhere), and so do quota headers
//!   that grant more than the documented pace would use before their reset (or within a
//!   minute, whichever is longer): then adaptive pacing as for any host. `--max-rps` wins:
//!   with a fixed ceiling the documented start is not applied.
//! - Long stops are global: a `Retry-After` over two seconds (on a 429, or on a 503: down
//!   for maintenance), or an exhausted quota
//!   (`X-RateLimit-Remaining: 0` or the IETF `RateLimit` forms, see `retry.rs`) with a reset
//!   over two seconds away, holds back *every* request, not only the refused one, so a fleet
//!   of workers does not keep hitting a server that said "wait" (the client checks
//!   `ask_again` once a request has its connection slot, so requests that passed the
//!   gate just before the pause wait too). Short
//!   `Retry-After`s are honoured by the refused request alone (pausing everyone for them
//!   would waste a bucket's refill), except inside a costly stretch (`refusals`).
//! - A cap on requests in flight (`inflight`): each request is counted in flight from when
//!   it leaves until its answer, and its answer recorded against how many were in flight
//!   with it. When 429s concentrate above some count while requests sent with fewer are
//!   admitted (a limiter counting requests in flight, which no pace can fill), requests
//!   in flight are capped at that count (`enter`), raised by one now and then for a trial.
//!   Refusals by rate fall on every count alike and teach no cap. A 429 sent above the cap
//!   is the cap's (the client does not report it to `on_rate_limited`), and learning a cap
//!   undoes the last slowdown (the count in flight caused it).
//! - Shared between runs (`--shared-pace-file`, `shared`): every step below runs on one
//!   state kept in a file under its lock, so several runs from one machine (one source IP,
//!   one limit) pace as one client instead of each probing the limit on its own.

mod inflight;
mod refusals;
mod shared;
use inflight::Concurrency;
use refusals::Refusals;
pub use shared::SharedPace;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const MIN_RATE: f64 = 0.2;
/// Admitted responses are counted over this window to measure what the server lets through.
const WINDOW: Duration = Duration::from_secs(2);
/// The shortest span an admitted rate is measured over (the first 429 may come at once).
const MIN_SPAN: Duration = Duration::from_millis(100);
/// An admitted rate counts as a measurement of the server (not of the client's demand)
/// once it rests on this many responses, or on a full `WINDOW` since the first 429.
const MIN_SAMPLES: usize = 10;
/// The longest wait a first burst's rate is spread over (`State::burst_rate`).
const BURST_WAIT: Duration = Duration::from_secs(1);
/// A congestion event paces at this fraction of the measured admitted rate.
const DECREASE: f64 = 0.9;
/// ... or this fraction when a refusal is costly (`refusals`): settle just under the limit,
/// since every step further below it is paid for the whole time until the next probe.
const COSTLY_DECREASE: f64 = 0.95;
/// Growth of the pace per request sent: until the second congestion event, then after.
const SLOW_START_GROWTH: f64 = 0.01;
const PROBE_GROWTH: f64 = 0.001;
/// ... and at least this much per second (ln 2: doubling; ~1%), so a pace that fell very
/// low (a first 429 before anything was admitted) does not creep back one request at a time.
const SLOW_START_GROWTH_PER_SEC: f64 = std::f64::consts::LN_2;
const PROBE_GROWTH_PER_SEC: f64 = 0.01;
/// Without a 429 for longer than `QUIET` the limit has likely risen (or was set too low):
/// the per-second growth doubles every `DOUBLING` after that, up to slow start's.
const QUIET: Duration = Duration::from_secs(4);
const DOUBLING: Duration = Duration::from_secs(2);
/// The pace grows to at most this multiple of the larger of the admitted rate, the pace
/// at the last congestion event and 1 request/s (a server that stops limiting must not
/// make it unbounded).
const MAX_OVER: f64 = 4.0;
/// A wait longer than this is applied to every request.
const GLOBAL_PAUSE_OVER: Duration = Duration::from_secs(2);
/// When a 429 stops everyone (a long `Retry-After`), probing past the limit is slowed so
/// that one probe comes per this many pauses' worth of time (~5% of the run in pauses).
const PENALTIES_PER_PROBE: f64 = 20.0;
/// ... and one decrease may go this much further below the pace (an overshoot costs a pause
/// per step back under the limit).
const PENALTY_STEP: f64 = 0.7;

/// Drata documents 500 requests per minute per source IP.
pub const DRATA_DOCUMENTED_RPS: f64 = 500.0 / 60.0;

/// The documented rate limit of `host` in requests/s, if it is one of Drata's hosts
/// (`drata.com` or a subdomain: every region's API host). Other hosts: unknown.
pub fn documented_limit(host: Option<&str>) -> Option<f64> {
    let host = host?.trim_end_matches('.').to_ascii_lowercase();
    (host == "drata.com" || host.ends_with(".drata.com")).then_some(DRATA_DOCUMENTED_RPS)
}

#[derive(Debug)]
struct State {
    next_slot: Instant,
    paused_until: Instant,
    /// Adaptive rate in requests/s; `None` until the first 429.
    rate: Option<f64>,
    /// Between the first and the second congestion event (fast growth).
    slow_start: bool,
    /// The pace just before the last congestion event.
    rate_at_decrease: f64,
    /// When requests the server admitted (anything but 429) completed, last `WINDOW` only.
    admitted: VecDeque<Instant>,
    first_request: Option<Instant>,
    /// When the first congestion event happened (the server's burst was spent).
    first_limited: Option<Instant>,
    last_decrease: Option<Instant>,
    last_grant: Option<Instant>,
    /// Seconds every request is held back by a 429 lately (its `Retry-After` when that is a
    /// global pause, else 0).
    penalty: f64,
    /// The pace is a documented limit not yet contradicted by the server (no growth).
    known_start: bool,
    /// What refusals cost and how often to probe (`refusals`).
    refusals: Refusals,
}

impl State {
    /// What the server admitted of a first burst as a rate: the responses of the last
    /// `WINDOW` once per wait the refusal asked for, at most `BURST_WAIT` (a burst admitted
    /// in a few milliseconds says nothing of a rate; the server's wait says how long it
    /// takes to admit as much again, in whole seconds and often rounded up twice over as an
    /// HTTP date). Not over the time since the first request: a run's first seconds are
    /// mostly one listing page after another.
    fn burst_rate(&mut self, now: Instant, after: Duration) -> f64 {
        let (rate, _) = self.admitted_rate(now);
        let from = self.first_request.unwrap_or(now);
        let count = rate * now.duration_since(from).clamp(MIN_SPAN, WINDOW).as_secs_f64();
        count / after.clamp(MIN_SPAN, BURST_WAIT).as_secs_f64()
    }

    /// Requests/s the server admitted over the last `WINDOW`, counted from the first 429 at
    /// the earliest (before it the server was spending its burst, which says nothing
    /// about its rate), or from the first request until then; and whether that is a
    /// measurement (`MIN_SAMPLES`) rather than a few responses to a client that had little
    /// to send.
    fn admitted_rate(&mut self, now: Instant) -> (f64, bool) {
        while self.admitted.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            self.admitted.pop_front();
        }
        let from = self.first_limited.or(self.first_request).unwrap_or(now);
        // Not across the last costly stretch: the time everyone waited it out is its cost,
        // not a measure of the rate.
        let from = from.max(self.refusals.costly_closed_at().unwrap_or(from));
        let counted = self.admitted.len() - self.admitted.partition_point(|t| *t < from);
        let elapsed = now.duration_since(from);
        let measured = counted >= MIN_SAMPLES || (self.first_limited.is_some() && elapsed >= WINDOW);
        (counted as f64 / elapsed.clamp(MIN_SPAN, WINDOW).as_secs_f64(), measured)
    }
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
    /// A server-imposed pause longer than this fails `wait` at once (`--max-wait`).
    max_pause: Option<Duration>,
    state: Mutex<State>,
    /// The state lives in a file shared with other runs (`with_shared`).
    shared: Option<SharedPace>,
    /// Requests in flight and the cap learnt on them (this process's own: `inflight`).
    concurrency: Mutex<Concurrency>,
    /// A request in flight was answered (a waiter in `enter` may go).
    freed: tokio::sync::Notify,
}

/// One request counted in flight (`Pacer::enter`) until dropped.
#[derive(Debug)]
pub struct InFlight<'a> {
    pacer: &'a Pacer,
    level: u32,
    /// Sent once the run paces (`Concurrency::learning`): its answer is evidence.
    counted: bool,
    /// Refused above the cap in force (`refused_by_cap`).
    of_the_cap: std::sync::atomic::AtomicBool,
}

impl InFlight<'_> {
    /// How many requests were in flight when this one left, itself included.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// The server answered it: refused (a 429) or admitted (any other status). A request
    /// that got no answer (a timeout, a reset connection) says nothing and is not recorded.
    /// It stays counted in flight until dropped, once its body is read: a server may hold
    /// its slot until the body is sent, and counting more than the server holds only
    /// blurs where refusals fall, while counting fewer would hide it.
    pub fn answered(&self, refused: bool) {
        if refused {
            tracing::debug!(
                in_flight = self.level,
                counted = self.counted,
                "429 for a request sent with others in flight"
            );
        }
        if !(self.pacer.adaptive && self.counted) {
            return;
        }
        let verdict =
            self.pacer.concurrency.lock().expect("concurrency lock").answered(self.level, refused, Instant::now());
        self.of_the_cap.store(verdict.of_the_cap, std::sync::atomic::Ordering::Relaxed);
        if verdict.learnt {
            // The last slowdown came from the count in flight, not the rate: undone (the
            // cap holds the count now), so the pace does not creep back for seconds.
            self.pacer.step(|st| {
                if let Some(rate) = st.rate {
                    st.rate = Some(rate.max(st.rate_at_decrease));
                }
            });
        }
    }

    /// Whether its 429 was for being sent above the cap in force (a trial of one more, or
    /// the refusal that taught the cap): the count in flight's, so not a slowdown of the
    /// pace (`on_rate_limited` is skipped for it).
    pub fn refused_by_cap(&self) -> bool {
        self.of_the_cap.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pacer.concurrency.lock().expect("concurrency lock").leave();
        self.pacer.freed.notify_waiters();
    }
}

/// What one look at the schedule decided.
enum Slot {
    Granted(Instant),
    Refused(PastDeadline),
    SleepUntil(Instant),
}

impl Pacer {
    pub fn new(max_rps: Option<f64>, adaptive: bool) -> Self {
        let now = Instant::now();
        Pacer {
            max_rps: max_rps.filter(|r| *r > 0.0),
            adaptive,
            max_pause: None,
            state: Mutex::new(State {
                next_slot: now,
                paused_until: now,
                rate: None,
                slow_start: false,
                rate_at_decrease: 0.0,
                admitted: VecDeque::new(),
                first_request: None,
                first_limited: None,
                last_decrease: None,
                last_grant: None,
                penalty: 0.0,
                known_start: false,
                refusals: Refusals::default(),
            }),
            shared: None,
            concurrency: Mutex::new(Concurrency::default()),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// Keep the pace in a file shared with the other runs that name it (see `shared`).
    pub fn with_shared(mut self, shared: SharedPace) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Run one step on the state: this process's own, or the shared file's under its lock.
    fn step<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.state.lock().expect("pacer lock");
        match &self.shared {
            Some(shared) => shared.step(&mut st, f),
            None => f(&mut st),
        }
    }

    /// Fail `wait` at once, instead of sleeping, when the server has paused everyone for
    /// longer than `max_pause` from now.
    pub fn with_max_pause(mut self, max_pause: Duration) -> Self {
        self.max_pause = Some(max_pause);
        self
    }

    /// Start the adaptive pace at a documented limit (`documented_limit`) and hold it there
    /// until the server contradicts it (a 429, or quota headers granting more). Not applied
    /// under a fixed ceiling (`--max-rps` wins) or without adaptive pacing.
    pub fn with_known_limit(self, per_second: Option<f64>) -> Self {
        if let Some(rate) = per_second.filter(|r| *r > 0.0 && self.adaptive && self.max_rps.is_none()) {
            let mut st = self.state.lock().expect("pacer lock");
            st.rate = Some(rate.max(MIN_RATE));
            st.known_start = true;
        }
        self
    }

    fn effective_rate(&self, st: &State) -> Option<f64> {
        match (self.max_rps, st.rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wait for this request's slot and return when it was granted (the request's send
    /// time, for `on_rate_limited`). A slot is claimed only when it is due (never reserved
    /// ahead), so a rate change applies at once to every waiting request. Fails at once,
    /// without sleeping, when the slot lies beyond `deadline` or a pause beyond `max_pause`.
    pub async fn wait(&self, deadline: Option<Instant>) -> Result<Instant, PastDeadline> {
        loop {
            let slot = self.step(|st| {
                let now = Instant::now();
                st.first_request.get_or_insert(now);
                let due = st.next_slot.max(st.paused_until);
                if due <= now {
                    if let Some(rate) = self.effective_rate(st) {
                        let interval = Duration::from_secs_f64(1.0 / rate);
                        // Keep the average when timers fire late, but never bank a burst.
                        st.next_slot = st.next_slot.max(now.checked_sub(interval).unwrap_or(now)) + interval;
                    }
                    if let Some(rate) = st.rate.filter(|_| !st.known_start) {
                        let (per_request, per_sec) = if st.slow_start {
                            (SLOW_START_GROWTH, SLOW_START_GROWTH_PER_SEC)
                        } else {
                            // A probe past the limit costs `penalty` seconds of everyone's
                            // time: climb back the last decrease in no less than
                            // `PENALTIES_PER_PROBE` of them, and wait that long before
                            // probing faster after a quiet spell.
                            let climb =
                                PENALTIES_PER_PROBE * st.refusals.cost(st.penalty, rate) * st.refusals.backoff();
                            let per_sec_now = (rate * PROBE_GROWTH).max(PROBE_GROWTH_PER_SEC);
                            let slower = (climb * per_sec_now / DECREASE.recip().ln()).max(1.0);
                            let quiet = st.last_decrease.map_or(Duration::ZERO, |t| now.duration_since(t));
                            let quiet_after = QUIET.as_secs_f64().max(climb);
                            let doubling = DOUBLING.as_secs_f64().max(climb / 5.0);
                            let doublings = (quiet.as_secs_f64() - quiet_after).max(0.0) / doubling;
                            (
                                PROBE_GROWTH / slower,
                                (PROBE_GROWTH_PER_SEC / slower * doublings.exp2()).min(SLOW_START_GROWTH_PER_SEC),
                            )
                        };
                        // Time only counts while the pace holds requests back (not idle time).
                        let dt = st.last_grant.map_or(0.0, |t| now.duration_since(t).as_secs_f64()).min(1.0 / rate);
                        let growth = (1.0 + per_request).max((per_sec * dt).exp());
                        let cap = MAX_OVER * st.admitted_rate(now).0.max(st.rate_at_decrease).max(1.0);
                        st.rate = Some((rate * growth).min(cap).max(rate));
                    }
                    st.last_grant = Some(now);
                    return Slot::Granted(now);
                }
                let too_long = self.max_pause.is_some_and(|m| st.paused_until > now + m);
                if too_long || deadline.is_some_and(|d| due >= d) {
                    return Slot::Refused(PastDeadline { wait: due - now });
                }
                Slot::SleepUntil(due)
            });
            match slot {
                Slot::Granted(at) => return Ok(at),
                Slot::Refused(e) => return Err(e),
                Slot::SleepUntil(due) => tokio::time::sleep_until(due).await,
            }
        }
    }

    /// Wait until one more request may be in flight under the cap learnt (`inflight`; no
    /// wait without one), and count it in flight until the returned guard is dropped. Taken
    /// once the request has its connection slot, just before it leaves.
    pub async fn enter(&self) -> InFlight<'_> {
        loop {
            // Registered before the look, so an answer between the two is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let entered = {
                let mut c = self.concurrency.lock().expect("concurrency lock");
                c.try_enter(Instant::now()).map(|level| (level, c.learning))
            };
            if let Some((level, counted)) = entered {
                return InFlight { pacer: self, level, counted, of_the_cap: false.into() };
            }
            freed.await;
        }
    }

    /// The cap on requests in flight in force now, if one was learnt.
    pub fn in_flight_cap(&self) -> Option<u32> {
        self.concurrency.lock().expect("concurrency lock").limit()
    }

    /// A response other than 429 arrived: the server admitted the request that left at
    /// `sent` (when it had its connection slot, not when `wait` granted its pace slot).
    pub fn on_admitted(&self, sent: Instant) {
        if !self.adaptive {
            return;
        }
        self.step(|st| {
            let now = Instant::now();
            st.admitted.push_back(now);
            st.admitted_rate(now);
            st.refusals.on_admitted(sent, st.penalty);
            if let Some(rate) = st.rate.filter(|_| !st.refusals.in_stretch()) {
                // The first stretch is over: cheap (a bucket), the first burst's own
                // measure is the better start (the pace drops from it at each cheap 429).
                if let Some(bold) = st.refusals.bold.take().filter(|_| st.refusals.cost(st.penalty, rate) == 0.0) {
                    st.rate = Some(rate.max(bold));
                }
            }
        })
    }

    /// A 429 arrived with the server's requested wait, for a request granted its pace slot
    /// at `sent` (what `wait` returned) that left at `left` (when it had its connection).
    pub fn on_rate_limited(&self, after: Duration, sent: Instant, left: Instant) {
        // (A long wait the server gave is already a global pause: `on_retry_after`.)
        if !self.adaptive {
            return;
        }
        self.step(|st| self.rate_limited(st, after, sent, left));
        // Until the first 429 the client sends unpaced bursts, whose refusals fall on the
        // highest counts in flight whatever the limiter: only what is sent after it counts.
        self.concurrency.lock().expect("concurrency lock").learning = true;
    }

    fn rate_limited(&self, st: &mut State, after: Duration, sent: Instant, left: Instant) {
        let now = Instant::now();
        st.penalty = if after > GLOBAL_PAUSE_OVER { after.as_secs_f64() } else { 0.0 };
        // Sent before the last decrease: at the old pace, already answered for. Or part of
        // the refusal stretch the last event began (nothing sent since has been admitted).
        if st.last_decrease.is_some_and(|t| sent < t) || st.refusals.in_stretch() {
            let held = st.paused_until > now;
            let hold = st.refusals.on_refused(left, after, st.penalty, self.effective_rate(st).unwrap_or(0.0));
            if let Some(hold) = hold.filter(|_| !held) {
                // Refused again after a costly refusal: everyone waits the stretch out
                // together instead of sending into it.
                st.paused_until = st.paused_until.max(now + hold);
            }
            return;
        }
        let (admitted, measured) = st.admitted_rate(now);
        if st.known_start {
            // The documented limit was too high for this server: learn it as any first 429.
            st.known_start = false;
            st.rate = None;
        }
        let rate = match st.rate {
            // The first: whatever was admitted, but at least what the server's own wait
            // implies (one request per `after`, at most one a second).
            None => {
                st.slow_start = true;
                let burst = st.burst_rate(now, after);
                st.refusals.burst = st.admitted.len() as f64;
                // If the stretch turns out cheap (a bucket), its end paces at this instead.
                st.refusals.bold = Some(admitted * DECREASE);
                (admitted.min(burst) * DECREASE).max(1.0 / after.as_secs_f64().max(1.0))
            }
            // Faster than the server admits: just under what it admits, but at most two
            // decreases' worth at a time (the admitted rate undercounts the server after a
            // stretch of little demand; a pace still too high draws the next 429 soon).
            // Only a measured rate ends slow start: a few 429s early in a run (a gateway's
            // burst bucket) say little about the server's rate.
            // A costly refusal (`refusals`): just under what the server sustains, measured
            // over whole cycles (its pace alone, everything admitted up to the cliff, says
            // little of that).
            Some(r) if measured && st.refusals.cost(st.penalty, r) > 0.0 => {
                st.slow_start = false;
                COSTLY_DECREASE * r.min(st.refusals.sustained(admitted, now))
            }
            Some(r) if r > admitted => {
                st.slow_start &= !measured;
                let step = if st.refusals.cost(st.penalty, r) > 0.0 { PENALTY_STEP } else { DECREASE };
                DECREASE * admitted.max(step * r)
            }
            // Not faster than it admitted lately: a bunch, not the pace (and unmeasured, at
            // most two decreases' worth).
            Some(r) if measured => r.min(DECREASE * admitted),
            Some(r) => r.min(DECREASE * admitted.max(DECREASE * r)),
        }
        .max(MIN_RATE);
        // (The first event's own measure is a burst's, not a pace: the rate set from it.)
        st.rate_at_decrease = st.rate.unwrap_or(rate);
        let cost = st.refusals.cost(st.penalty, st.rate_at_decrease);
        st.refusals.on_event(now, st.rate_at_decrease, cost > 0.0);
        st.rate = Some(rate);
        st.first_limited.get_or_insert(now);
        st.last_decrease = Some(now);
        // The server's bucket is empty now: the next request keeps one interval's distance.
        st.next_slot = st.next_slot.max(now + Duration::from_secs_f64(1.0 / self.effective_rate(st).unwrap_or(rate)));
        tracing::debug!(admitted, rate = st.rate, cost, "rate limited: pacing adjusted");
    }

    /// A refusal asked to wait `after` (`Retry-After` on a 429, or on a 503: down for
    /// maintenance): a long wait holds back every request. Called as the answer arrives, so
    /// the pause is in place before the request's connection slot is handed on.
    pub fn on_retry_after(&self, after: Duration) {
        if after > GLOBAL_PAUSE_OVER {
            self.step(|st| {
                let until = Instant::now() + after;
                st.paused_until = st.paused_until.max(until);
            })
        }
    }

    /// The quota a response reported (requests remaining, time until reset): an exhausted
    /// one with a distant reset is a global stop until the reset.
    pub fn on_rate_headers(&self, remaining: f64, reset_in: Duration) {
        // Without a `max_pause` bound a reset over five minutes away is left to the refused
        // requests' own waits; with one, a pause past it fails `wait` at once (exit 75).
        let bounded = self.max_pause.is_some() || reset_in <= Duration::from_secs(300);
        self.step(|st| {
            let documented = st.rate.filter(|_| st.known_start);
            if documented.is_some_and(|r| remaining > r * reset_in.max(Duration::from_secs(60)).as_secs_f64()) {
                // The server grants more than the documented limit: find its limit instead.
                st.known_start = false;
                st.rate = None;
            }
            if remaining < 1.0 && reset_in > GLOBAL_PAUSE_OVER && bounded {
                let until = Instant::now() + reset_in;
                st.paused_until = st.paused_until.max(until);
            }
        })
    }

    /// Whether a request granted its pace slot at `sent` must ask for a new one now that it
    /// has its connection slot: everyone is held back (a pause began while it waited), or
    /// it was granted at a pace since slowed down (sent now, it would only be refused).
    /// One look at the state (one lock of a shared pace file on the request's path).
    pub fn ask_again(&self, sent: Instant) -> bool {
        self.step(|st| {
            st.paused_until > Instant::now() || (self.adaptive && st.last_decrease.is_some_and(|t| sent < t))
        })
    }

    /// Whether every request is being held back now (`Retry-After` or an exhausted quota).
    pub fn is_paused(&self) -> bool {
        self.step(|st| st.paused_until > Instant::now())
    }

    pub fn current_rate(&self) -> Option<f64> {
        self.step(|st| self.effective_rate(st))
    }
}

#[cfg(test)]
mod shape_tests;
#[cfg(test)]
mod tests;
