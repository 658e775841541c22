//! Contract tests for the embedded simulator's HTTP API (guide dialect): a real server on
//! `127.0.0.1:0`, a plain reqwest client, no client-side models from the crate.

use std::collections::HashSet;
use std::time::Duration;

use drata_etl::sim::{ApiKeySpec, Drift, Faults, RateLimit, RunningSim, SimConfig, Simulator};
use serde_json::Value;

const KEY: &str = "sim-key";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client")
}

async fn start(cfg: SimConfig) -> RunningSim {
    Simulator::spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.expect("bind simulator")
}

fn people(n: usize) -> SimConfig {
    SimConfig { personnel: n, ..SimConfig::default() }
}

async fn get(c: &reqwest::Client, sim: &RunningSim, path_q: &str) -> reqwest::Response {
    c.get(format!("{}/public{}", sim.base_url(), path_q)).bearer_auth(KEY).send().await.expect("request")
}

async fn get_json(c: &reqwest::Client, sim: &RunningSim, path_q: &str) -> (u16, Value) {
    let r = get(c, sim, path_q).await;
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct} for {path_q}");
    (status, r.json().await.expect("json body"))
}

fn assert_error(body: &Value, status: u16, name: &str) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["name"], name, "{body}");
    assert_eq!(body["code"], 0, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

/// Page through `/personnel` with `limit`, trusting the echoed limit and stopping by total.
async fn list_all(c: &reqwest::Client, sim: &RunningSim, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let (s, body) = get_json(c, sim, &format!("/personnel?page={page}&limit={limit}")).await;
        assert_eq!(s, 200);
        let total = body["total"].as_u64().unwrap() as usize;
        let used = body["limit"].as_u64().unwrap() as usize;
        assert_eq!(body["page"], page);
        let data = body["data"].as_array().unwrap().clone();
        assert!(data.len() <= used);
        out.extend(data);
        if page * used >= total {
            return out;
        }
        page += 1;
    }
}

#[tokio::test]
async fn paging_contract() {
    let c = client();
    for n in [0usize, 1, 100, 101] {
        let sim = start(people(n)).await;
        let all = list_all(&c, &sim, 100).await;
        assert_eq!(all.len(), n, "N={n}");
        assert_eq!(all, sim.sim.personnel_json(), "N={n}");
        let ids: HashSet<_> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), n);
        let (_, body) = get_json(&c, &sim, "/personnel?page=1&limit=100").await;
        assert_eq!(body["total"], n);
        assert_eq!(body["limit"], 100);
        // Past the end: empty page, same total.
        let (s, body) = get_json(&c, &sim, "/personnel?page=9&limit=100").await;
        assert_eq!(s, 200);
        assert_eq!(body["data"].as_array().unwrap().len(), 0);
        assert_eq!(body["total"], n);
        sim.shutdown().await;
    }

    let sim = start(people(60)).await;
    // Defaults: page 1, limit 25.
    let (_, body) = get_json(&c, &sim, "/personnel").await;
    assert_eq!(body["page"], 1);
    assert_eq!(body["limit"], 25);
    assert_eq!(body["data"].as_array().unwrap().len(), 25);
    // Clamped to 100 and echoed.
    let (_, body) = get_json(&c, &sim, "/personnel?limit=1000").await;
    assert_eq!(body["limit"], 100);
    assert_eq!(body["data"].as_array().unwrap().len(), 60);
    // Limit 7 pages stitch together in order.
    let all7 = list_all(&c, &sim, 7).await;
    assert_eq!(all7, sim.sim.personnel_json());
    // Bad paging parameters are a JSON 400.
    for bad in ["page=0", "limit=0", "page=abc", "limit=-5"] {
        let (s, body) = get_json(&c, &sim, &format!("/personnel?{bad}")).await;
        assert_eq!(s, 400, "{bad}");
        assert_error(&body, 400, "BadRequestException");
    }
    // Controls page the same way.
    let (s, body) = get_json(&c, &sim, "/controls?limit=100").await;
    assert_eq!(s, 200);
    assert_eq!(body["total"], 80);
    assert_eq!(body["limit"], 100);
    assert_eq!(body["data"].as_array().unwrap(), &sim.sim.controls_json());
    let (_, body) = get_json(&c, &sim, "/controls?page=4&limit=25").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 5);
    sim.shutdown().await;

    // The server's own cap wins and is echoed.
    let sim = start(SimConfig {
        personnel: 120,
        faults: Faults { max_page_limit: Some(50), ..Faults::default() },
        ..SimConfig::default()
    })
    .await;
    let (_, body) = get_json(&c, &sim, "/personnel?limit=100").await;
    assert_eq!(body["limit"], 50);
    assert_eq!(body["data"].as_array().unwrap().len(), 50);
    assert_eq!(list_all(&c, &sim, 100).await.len(), 120);
    sim.shutdown().await;
}

#[tokio::test]
async fn records_and_children() {
    let c = client();
    let sim = start(people(40)).await;
    let expected = sim.sim.personnel_json();
    let id = expected[5]["id"].as_str().unwrap();

    let (s, one) = get_json(&c, &sim, &format!("/personnel/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(one, expected[5]);
    for field in ["id", "email", "firstName", "lastName", "isActive", "role"] {
        assert!(one.get(field).is_some(), "{field} missing in {one}");
    }
    assert!(one["trainingStatus"].is_object());

    let (s, t) = get_json(&c, &sim, &format!("/personnel/{id}/training")).await;
    assert_eq!(s, 200);
    assert_eq!(t["personnelId"], id);
    assert_eq!(t["trainings"].as_array().unwrap(), &sim.sim.training_json(id).unwrap());
    let (s, b) = get_json(&c, &sim, &format!("/personnel/{id}/background-checks")).await;
    assert_eq!(s, 200);
    assert_eq!(b["personnelId"], id);
    assert_eq!(b["backgroundChecks"].as_array().unwrap(), &sim.sim.background_checks_json(id).unwrap());

    // Unknown ids and unknown paths: Drata-style JSON 404s.
    for path in [
        "/personnel/00000000-0000-4000-8000-000000000000".to_string(),
        "/personnel/nope/training".to_string(),
        "/personnel/nope/background-checks".to_string(),
        "/no-such-thing".to_string(),
        format!("/personnel/{id}/evidence"),
    ] {
        let (s, body) = get_json(&c, &sim, &path).await;
        assert_eq!(s, 404, "{path}");
        assert_error(&body, 404, "NotFoundException");
    }

    // Mutations show up everywhere; deleted people's children 404.
    assert!(sim.sim.set_person_field(id, "department", Value::Null));
    let (_, one) = get_json(&c, &sim, &format!("/personnel/{id}")).await;
    assert_eq!(one["department"], Value::Null);
    assert!(sim.sim.delete_person(id));
    for path in
        [format!("/personnel/{id}"), format!("/personnel/{id}/training"), format!("/personnel/{id}/background-checks")]
    {
        let (s, _) = get_json(&c, &sim, &path).await;
        assert_eq!(s, 404, "{path}");
    }
    let (_, body) = get_json(&c, &sim, "/personnel?limit=100").await;
    assert_eq!(body["total"], 39);
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_and_scopes() {
    let c = client();
    let sim = start(SimConfig {
        personnel: 5,
        keys: vec![
            ApiKeySpec::all_read(KEY),
            ApiKeySpec::new("controls-only", &["controls:read"]),
            ApiKeySpec::new("people-only", &["personnel:read"]),
        ],
        ..SimConfig::default()
    })
    .await;
    let url = |p: &str| format!("{}/public{p}", sim.base_url());

    let r = c.get(url("/personnel")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_error(&r.json::<Value>().await.unwrap(), 401, "UnauthorizedException");
    let r = c.get(url("/personnel")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);

    let r = c.get(url("/personnel?limit=1")).bearer_auth("controls-only").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_error(&body, 403, "ForbiddenException");
    assert!(body["message"].as_str().unwrap().contains("personnel:read"), "{body}");

    let r = c.get(url("/controls")).bearer_auth("people-only").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("controls:read"), "{body}");

    let r = c.get(url("/controls")).bearer_auth("controls-only").send().await.unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;

    // Fault: every request unauthorized, even with the right key.
    let sim = start(SimConfig { faults: Faults { unauthorized: true, ..Faults::default() }, ..people(3) }).await;
    let (s, body) = get_json(&c, &sim, "/personnel").await;
    assert_eq!(s, 401);
    assert_error(&body, 401, "UnauthorizedException");
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let c = client();
    let sim = start(SimConfig {
        faults: Faults { rate_limit: Some(RateLimit { per_second: 0.5, burst: 2 }), ..Faults::default() },
        ..people(3)
    })
    .await;
    let mut retry_afters = Vec::new();
    for i in 0..6 {
        let r = get(&c, &sim, "/personnel").await;
        for h in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"] {
            assert!(r.headers().contains_key(h), "{h} missing on request {i}");
        }
        assert_eq!(r.headers()["x-ratelimit-limit"], "2");
        if i < 2 {
            assert_eq!(r.status(), 200, "request {i}");
        } else {
            assert_eq!(r.status(), 429, "request {i}");
            let ra = r.headers()["retry-after"].to_str().unwrap().to_string();
            assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["statusCode"], 429);
            retry_afters.push(ra);
        }
    }
    // Alternates: delta-seconds, then an HTTP-date.
    assert!(retry_afters[0].parse::<u64>().is_ok_and(|s| (1..=2).contains(&s)), "{retry_afters:?}");
    assert!(httpdate::parse_http_date(&retry_afters[1]).is_ok(), "{retry_afters:?}");
    assert!(retry_afters[2].parse::<u64>().is_ok(), "{retry_afters:?}");
    let st = sim.sim.stats();
    assert_eq!(st.rate_limited, 4);
    assert_eq!(st.responses_by_status.get(&429), Some(&4));
    sim.shutdown().await;
}

#[tokio::test]
async fn html_login_is_a_200_html_page() {
    let c = client();
    let sim = start(SimConfig { faults: Faults { html_login: true, ..Faults::default() }, ..people(3) }).await;
    let r = get(&c, &sim, "/personnel?page=1&limit=100").await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(text.contains("<html") && serde_json::from_str::<Value>(&text).is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn html_errors_truncation_and_cuts() {
    let c = client();
    let sim = start(SimConfig { faults: Faults { html_error_rate: 1.0, ..Faults::default() }, ..people(3) }).await;
    let r = get(&c, &sim, "/personnel").await;
    assert!(matches!(r.status().as_u16(), 502 | 503));
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    sim.shutdown().await;

    let sim = start(SimConfig { faults: Faults { truncate_rate: 1.0, ..Faults::default() }, ..people(30) }).await;
    let r = get(&c, &sim, "/personnel").await;
    assert_eq!(r.status(), 200);
    let len: usize = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let body = r.bytes().await.expect("complete body");
    assert_eq!(body.len(), len);
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    // Errors are not truncated.
    let (s, _) = get_json(&c, &sim, "/personnel?page=0").await;
    assert_eq!(s, 400);
    sim.shutdown().await;

    let sim = start(SimConfig { faults: Faults { cut_rate: 1.0, ..Faults::default() }, ..people(30) }).await;
    let r = get(&c, &sim, "/personnel").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "body should be cut");
    // The server survives and keeps serving.
    let r = get(&c, &sim, "/personnel").await;
    assert!(r.bytes().await.is_err());
    let st = sim.sim.stats();
    assert_eq!(st.faults_injected, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_responses_exceed_client_timeout() {
    let _ = client();
    let c = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
    let sim = start(SimConfig {
        faults: Faults { slow_rate: 1.0, slow: Duration::from_millis(400), ..Faults::default() },
        ..people(3)
    })
    .await;
    let err = c
        .get(format!("{}/public/personnel", sim.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect_err("should time out");
    assert!(err.is_timeout(), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn drift_moves_the_list_then_settles() {
    let c = client();
    let sim = start(SimConfig {
        faults: Faults {
            drift: Some(Drift { inserts_per_page: 2, deletes_per_page: 1, max_events: 3 }),
            ..Faults::default()
        },
        ..people(50)
    })
    .await;
    let before = sim.sim.personnel_json();
    let (_, p1) = get_json(&c, &sim, "/personnel?page=1&limit=10").await;
    assert_eq!(p1["total"], 50);
    let (_, p2) = get_json(&c, &sim, "/personnel?page=2&limit=10").await;
    // Two inserted at the front, one deleted behind the reader.
    assert_eq!(p2["total"], 51);
    let first_page_ids: HashSet<&str> =
        p1["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    let now: Vec<Value> = sim.sim.personnel_json();
    let now_ids: HashSet<&str> = now.iter().map(|p| p["id"].as_str().unwrap()).collect();
    let gone: Vec<&&str> = first_page_ids.iter().filter(|id| !now_ids.contains(**id)).collect();
    assert_eq!(gone.len(), 1, "one already-listed person deleted");
    let (s, _) = get_json(&c, &sim, &format!("/personnel/{}/training", gone[0])).await;
    assert_eq!(s, 404);
    assert_ne!(now[0]["id"], before[0]["id"], "new people at the front");
    // After max_events the list is stable and a full re-list matches.
    for _ in 0..4 {
        get_json(&c, &sim, "/personnel?page=2&limit=10").await;
    }
    let total = sim.sim.personnel_total();
    assert_eq!(total, 50 + 3 * 2 - 3);
    let relisted = list_all(&c, &sim, 100).await;
    assert_eq!(relisted, sim.sim.personnel_json());
    assert_eq!(sim.sim.stats().faults_injected, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_count_requests_and_peak_in_flight() {
    let c = client();
    let sim = start(SimConfig { latency: Duration::from_millis(150), ..people(10) }).await;
    let id = sim.sim.personnel_json()[0]["id"].as_str().unwrap().to_string();
    let paths = [
        "/personnel".to_string(),
        format!("/personnel/{id}"),
        format!("/personnel/{id}/training"),
        format!("/personnel/{id}/background-checks"),
        "/controls".to_string(),
        "/nowhere".to_string(),
        "/personnel".to_string(),
        "/controls".to_string(),
    ];
    let futs = paths.iter().map(|p| get(&c, &sim, p));
    let resps = futures::future::join_all(futs).await;
    assert_eq!(resps.len(), 8);
    let st = sim.sim.stats();
    assert_eq!(st.requests_total, 8);
    assert_eq!(st.requests_by_endpoint["personnel_list"], 2);
    assert_eq!(st.requests_by_endpoint["personnel_get"], 1);
    assert_eq!(st.requests_by_endpoint["training"], 1);
    assert_eq!(st.requests_by_endpoint["background_checks"], 1);
    assert_eq!(st.requests_by_endpoint["controls_list"], 2);
    assert_eq!(st.requests_by_endpoint["other"], 1);
    assert_eq!(st.responses_by_status[&200], 7);
    assert_eq!(st.responses_by_status[&404], 1);
    assert!(st.peak_in_flight >= 6, "peak {}", st.peak_in_flight);
    assert!(st.peak_in_flight <= 8);
    // Stats serialise for the CLI's summary output.
    assert!(serde_json::to_value(&st).unwrap()["requests_total"] == 8);

    sim.sim.reset_stats();
    let st = sim.sim.stats();
    assert_eq!(st.requests_total, 0);
    assert_eq!(st.peak_in_flight, 0);
    assert_eq!(st.requests_by_endpoint.len(), 7);
    assert!(st.responses_by_status.is_empty());
    sim.shutdown().await;
}
