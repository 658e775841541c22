//! Unit tests of `drata::pacing`, kept beside it so the module reads as code first.

use super::*;

#[tokio::test(start_paused = true)]
async fn long_retry_after_holds_back_every_request() {
    let p = Pacer::new(None, false);
    let t0 = Instant::now();
    p.on_retry_after(Duration::from_secs(3));
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
async fn a_pause_past_max_pause_fails_at_once_a_shorter_one_is_slept() {
    let p = Pacer::new(None, true).with_max_pause(Duration::from_secs(60));
    let t0 = Instant::now();
    p.on_rate_headers(0.0, Duration::from_secs(120));
    let err = p.wait(None).await.expect_err("a two-minute pause is over the one-minute bound");
    assert_eq!(err.wait, Duration::from_secs(120));
    assert_eq!(t0.elapsed(), Duration::ZERO, "without sleeping");
    tokio::time::advance(Duration::from_secs(90)).await;
    // Thirty seconds left: within the bound, slept through.
    p.wait(None).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(120));
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
    let mut sent = Instant::now();
    for _ in 0..100 {
        sent = p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
        tokio::time::advance(Duration::from_millis(20)).await;
    }
    p.on_rate_limited(Duration::from_millis(100), sent, sent);
    let r1 = p.current_rate().unwrap();
    assert!((40.0..50.0).contains(&r1), "{r1}");
    // A burst of 429s from requests already in flight is one signal.
    p.on_rate_limited(Duration::from_millis(100), sent, sent);
    p.on_rate_limited(Duration::from_millis(100), sent, sent);
    assert_eq!(p.current_rate().unwrap(), r1);
    for _ in 0..200 {
        p.wait(None).await.unwrap();
    }
    assert!(p.current_rate().unwrap() > r1);
}

/// Pace `n` requests, each admitted, `every` apart; returns the last send time.
async fn admitted(p: &Pacer, n: usize, every: Duration) -> Instant {
    let mut sent = Instant::now();
    for _ in 0..n {
        sent = p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
        tokio::time::advance(every).await;
    }
    sent
}

/// A server's token bucket (`rate` per second, `burst`) on the paused clock.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn admit(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        let ok = self.tokens >= 1.0;
        if ok {
            self.tokens -= 1.0;
        }
        ok
    }
}

/// Send through the pacer for `secs` against `server`; returns (admitted in the last
/// `measure` seconds, requests, 429s).
async fn against(p: &Pacer, server: &mut Bucket, secs: u64, measure: u64) -> (u64, u64, u64) {
    against_saying(p, server, secs, measure, Duration::from_secs(1)).await
}

/// `against`, with every 429 asking to wait `retry_after`.
async fn against_saying(
    p: &Pacer,
    server: &mut Bucket,
    secs: u64,
    measure: u64,
    retry_after: Duration,
) -> (u64, u64, u64) {
    let t0 = Instant::now();
    let (mut admitted, mut requests, mut limited) = (0, 0, 0);
    while t0.elapsed() < Duration::from_secs(secs) {
        let sent = p.wait(None).await.unwrap();
        requests += 1;
        if server.admit() {
            admitted += u64::from(t0.elapsed() >= Duration::from_secs(secs - measure));
            p.on_admitted(Instant::now());
        } else {
            limited += 1;
            // As the client does: the wait first (a global pause when long), then the pace.
            p.on_retry_after(retry_after);
            p.on_rate_limited(retry_after, sent, sent);
        }
        // A request takes a little while; the next one is not sent in the same instant.
        tokio::time::advance(Duration::from_micros(500)).await;
    }
    (admitted, requests, limited)
}

#[tokio::test(start_paused = true)]
async fn holds_a_token_bucket_limit_and_follows_it_when_it_moves() {
    let p = Pacer::new(None, true);
    let mut server = Bucket { rate: 50.0, burst: 10.0, tokens: 10.0, at: Instant::now() };
    let (mut requests, mut limited) = (0, 0);
    for limit in [50.0, 20.0, 50.0] {
        server.rate = limit;
        let (admitted, n, l) = against(&p, &mut server, 40, 20).await;
        let rate = admitted as f64 / 20.0;
        assert!(rate >= 0.95 * limit, "limit {limit}: {rate}/s admitted");
        requests += n;
        limited += l;
    }
    assert!(limited * 100 <= 2 * requests, "{limited} of {requests} refused");
}

#[tokio::test(start_paused = true)]
async fn pace_above_the_admitted_rate_drops_under_it_and_growth_is_capped() {
    let p = Pacer::new(None, true);
    let sent = admitted(&p, 50, Duration::from_millis(20)).await;
    p.on_rate_limited(Duration::from_secs(1), sent, sent);
    // Slow start overshoots: the server admits only 25/s from here on.
    let mut sent = Instant::now();
    let mut next_admit = Instant::now();
    for _ in 0..400 {
        sent = p.wait(None).await.unwrap();
        if sent >= next_admit {
            p.on_admitted(Instant::now());
            next_admit += Duration::from_millis(40);
        }
    }
    let fast = p.current_rate().unwrap();
    assert!(fast <= MAX_OVER * 50.0 + 1e-9, "growth is capped by what the server admits: {fast}");
    p.on_rate_limited(Duration::from_secs(1), sent, sent);
    let slow = p.current_rate().unwrap();
    assert!(slow < fast && slow <= 0.9 * fast.max(50.0), "{fast} -> {slow}");
}

#[tokio::test(start_paused = true)]
async fn a_first_429_before_anything_was_admitted_does_not_stall_the_run() {
    let p = Pacer::new(None, true);
    let sent = p.wait(None).await.unwrap();
    // The previous run spent the server's bucket: the very first request is refused.
    p.on_rate_limited(Duration::from_secs(1), sent, sent);
    assert!(p.current_rate().unwrap() >= 1.0, "at least what Retry-After implies");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
    }
    assert!(p.current_rate().unwrap() >= 8.0, "{:?}", p.current_rate());
}

/// A gateway refuses the second request and its retry, then admits everything: the
/// two early 429s rest on one admitted response and must not end slow start.
#[tokio::test(start_paused = true)]
async fn a_few_early_429s_do_not_end_slow_start() {
    let p = Pacer::new(None, true);
    admitted(&p, 1, Duration::from_millis(5)).await;
    let sent = p.wait(None).await.unwrap();
    p.on_rate_limited(Duration::ZERO, sent, sent);
    let sent = p.wait(None).await.unwrap();
    tokio::time::advance(Duration::from_millis(5)).await;
    p.on_rate_limited(Duration::ZERO, sent, sent);
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < 600 {
        p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
        sent += 1;
    }
    assert!(t0.elapsed() < Duration::from_secs(7), "600 requests took {:?}", t0.elapsed());
}

/// A server that answers every 429 with a long `Retry-After` (a fixed penalty, here 5 s
/// over a 20 requests/s bucket) stops everyone for that long at each probe past its
/// limit: the pace must probe rarely enough that the pauses cost little.
#[tokio::test(start_paused = true)]
async fn a_long_retry_after_on_every_429_makes_probing_rare() {
    let p = Pacer::new(None, true);
    let mut server = Bucket { rate: 20.0, burst: 5.0, tokens: 5.0, at: Instant::now() };
    let (admitted, requests, limited) = against_saying(&p, &mut server, 600, 500, Duration::from_secs(5)).await;
    let rate = admitted as f64 / 500.0;
    eprintln!("{rate}/s admitted, {limited} of {requests} refused");
    assert!(rate >= 0.85 * 20.0, "{rate}/s admitted ({limited} of {requests} refused)");
}

#[test]
fn drata_hosts_have_a_documented_limit_others_do_not() {
    for host in
        ["public-api.drata.com", "public-api.eu.drata.com", "PUBLIC-API.APAC.DRATA.COM", "drata.com", "x.drata.com."]
    {
        assert_eq!(documented_limit(Some(host)), Some(500.0 / 60.0), "{host}");
    }
    for host in ["127.0.0.1", "drata.com.evil.example", "notdrata.com", "api.example.com", "localhost"] {
        assert_eq!(documented_limit(Some(host)), None, "{host}");
    }
    assert_eq!(documented_limit(None), None);
}

#[tokio::test(start_paused = true)]
async fn a_documented_limit_paces_from_the_first_request_and_does_not_probe_past_it() {
    let p = Pacer::new(None, true).with_known_limit(documented_limit(Some("public-api.drata.com")));
    let t0 = Instant::now();
    for _ in 0..=100 {
        p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
    }
    // 100 intervals at 500/minute: 12 s, no first burst and no growth.
    let e = t0.elapsed().as_secs_f64();
    assert!((11.9..12.2).contains(&e), "{e}");
    assert!((p.current_rate().unwrap() - 500.0 / 60.0).abs() < 1e-9);
    // Quota headers that fit the documented limit (a 500-a-minute window) change nothing.
    p.on_rate_headers(400.0, Duration::from_secs(50));
    assert!((p.current_rate().unwrap() - 500.0 / 60.0).abs() < 1e-9);
}

#[tokio::test(start_paused = true)]
async fn max_rps_wins_over_a_documented_limit() {
    let p = Pacer::new(Some(20.0), true).with_known_limit(Some(500.0 / 60.0));
    assert_eq!(p.current_rate(), Some(20.0));
    // Without adaptive pacing nothing is learnt, and nothing documented applies either.
    assert_eq!(Pacer::new(None, false).with_known_limit(Some(8.0)).current_rate(), None);
    // Other hosts: unpaced until the first 429, as before.
    assert_eq!(Pacer::new(None, true).with_known_limit(documented_limit(Some("127.0.0.1"))).current_rate(), None);
}

#[tokio::test(start_paused = true)]
async fn quota_headers_granting_more_than_documented_end_the_documented_start() {
    let p = Pacer::new(None, true).with_known_limit(Some(500.0 / 60.0));
    // 1,000 left for the next minute: twice the documented pace.
    p.on_rate_headers(1000.0, Duration::from_secs(60));
    assert_eq!(p.current_rate(), None, "adaptive as for any host");
}

#[tokio::test(start_paused = true)]
async fn a_429_under_a_documented_limit_is_learnt_as_a_first_429() {
    let p = Pacer::new(None, true).with_known_limit(Some(500.0 / 60.0));
    // The server admits only ~4 requests/s.
    for _ in 0..8 {
        p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
        tokio::time::advance(Duration::from_millis(250)).await;
    }
    let sent = p.wait(None).await.unwrap();
    p.on_rate_limited(Duration::from_secs(1), sent, sent);
    let r = p.current_rate().unwrap();
    assert!(r < 500.0 / 60.0 && r > 2.0, "{r}");
    // From here it probes again (slow start), as after a first 429 anywhere.
    for _ in 0..20 {
        p.wait(None).await.unwrap();
        p.on_admitted(Instant::now());
    }
    assert!(p.current_rate().unwrap() > r, "{:?} vs {r}", p.current_rate());
}

#[tokio::test(start_paused = true)]
async fn refusals_only_above_two_in_flight_hold_requests_in_flight_to_two() {
    use futures::FutureExt;
    let p = Pacer::new(None, true);
    // The unpaced start: refusals of a burst say nothing yet (every limiter refuses its top).
    {
        let burst: Vec<_> = [p.enter().await, p.enter().await, p.enter().await, p.enter().await].into();
        assert_eq!(burst.iter().map(InFlight::level).collect::<Vec<_>>(), [1, 2, 3, 4]);
        burst[0].answered(false);
        burst[1].answered(false);
        burst[2].answered(true);
        burst[3].answered(true);
    }
    let now = Instant::now();
    p.on_rate_limited(Duration::from_secs(1), now, now);
    assert_eq!(p.in_flight_cap(), None);
    // Paced: two in flight are admitted, a third is refused (twice, apart).
    for round in 0..20 {
        let (a, b) = (p.enter().await, p.enter().await);
        if round % 10 == 9 {
            let c = p.enter().await;
            assert_eq!(c.level(), 3);
            c.answered(true);
        }
        a.answered(false);
        b.answered(false);
    }
    assert_eq!(p.in_flight_cap(), Some(2));
    // A third waits for one of two to be answered; then it goes.
    let (a, _b) = (p.enter().await, p.enter().await);
    let mut third = Box::pin(p.enter());
    assert!((&mut third).now_or_never().is_none(), "a third request in flight waits");
    a.answered(false);
    drop(a);
    let third = third.now_or_never().expect("a slot freed");
    assert_eq!(third.level(), 2);
}

#[tokio::test(start_paused = true)]
async fn without_adaptive_pacing_no_cap_is_learnt() {
    let p = Pacer::new(Some(10.0), false);
    let now = Instant::now();
    p.on_rate_limited(Duration::from_secs(1), now, now);
    for _ in 0..30 {
        let (a, b, c) = (p.enter().await, p.enter().await, p.enter().await);
        a.answered(false);
        b.answered(false);
        c.answered(true);
    }
    assert_eq!(p.in_flight_cap(), None);
}
