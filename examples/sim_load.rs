//! Load generator for the simulator's capacity benchmark (`scripts/bench.sh simulator`):
//! how many requests per second `drata-etl simulate` serves on this machine, so the
//! pipeline's benchmarks can show the simulator is not what limits them.
//!
//! `--connections` keep-alive connections send a run's mix of requests for `--seconds`: per
//! 201 requests one list page (`limit=100`, cycling through the pages) and 100 each of
//! `/training` and `/background-checks` for the listed people. Prints one JSON line.
//!
//!   sim_load --base-url http://127.0.0.1:PORT [--connections 64] [--seconds 10]
//!   (the API key is read from DRATA_API_KEY)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    base: String,
    connections: usize,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { base: String::new(), connections: 64, seconds: 10 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--base-url" => args.base = value.trim_end_matches('/').to_string(),
            "--connections" => args.connections = value.parse().map_err(bad)?,
            "--seconds" => args.seconds = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.base.is_empty() || args.connections == 0 {
        return Err("usage: sim_load --base-url URL [--connections N] [--seconds S]".into());
    }
    Ok(args)
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let key = std::env::var("DRATA_API_KEY").map_err(|_| "set DRATA_API_KEY".to_string())?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(args.connections).build().map_err(|e| e.to_string())?;
    let first: serde_json::Value = client
        .get(format!("{}/public/personnel?page=1&limit=100", args.base))
        .bearer_auth(&key)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("listing page 1: {e}"))?
        .json()
        .await
        .map_err(|e| format!("listing page 1: {e}"))?;
    let ids: Vec<String> = first["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|p| p["id"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    let pages = first["total"].as_u64().unwrap_or(0).div_ceil(100).max(1);
    if ids.is_empty() {
        return Err("the simulator listed nobody".into());
    }
    // The request to send as number `n` of the mix.
    let ids = Arc::new(ids);
    let url = {
        let (base, ids) = (args.base.clone(), ids.clone());
        Arc::new(move |n: u64| match n % 201 {
            0 => format!("{base}/public/personnel?page={}&limit=100", (n / 201) % pages + 1),
            k => {
                let id = &ids[(k as usize - 1) % ids.len()];
                let child = if k % 2 == 0 { "training" } else { "background-checks" };
                format!("{base}/public/personnel/{id}/{child}")
            }
        })
    };

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let (client, key, url) = (client.clone(), key.clone(), url.clone());
            let (counts, stop, next) = (counts.clone(), stop.clone(), next.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let body = match client.get(url(n)).bearer_auth(&key).send().await {
                        Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                        _ => None,
                    };
                    match body {
                        Some(b) => {
                            counts.ok.fetch_add(1, Ordering::Relaxed);
                            counts.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        }
                        None => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.map_err(|e| e.to_string())?;
    }
    let secs = started.elapsed().as_secs_f64();
    let ok = counts.ok.load(Ordering::Relaxed);
    let line = serde_json::json!({
        "connections": args.connections,
        "seconds": secs,
        "requests_ok": ok,
        "requests_failed": counts.failed.load(Ordering::Relaxed),
        "requests_per_s": ok as f64 / secs,
        "mb_per_s": counts.bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
    });
    println!("{line}");
    Ok(())
}
