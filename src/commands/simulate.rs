//! `drata-etl simulate`: the simulator as a standalone server, configured from flags, until
//! SIGINT/SIGTERM. Prints one JSON line with the address it serves (useful with port 0).

use crate::cli::{RateShapeArg, SimDialectArg, SimulateArgs};
use crate::error::{EtlError, FailureKind};
use crate::sim::{ApiKeySpec, Drift, Faults, LimiterShape, RateLimit, SimConfig, SimDialect, Simulator};
use std::time::Duration;

pub fn sim_config(a: &SimulateArgs) -> SimConfig {
    let drift = (a.drift_inserts > 0 || a.drift_deletes > 0).then_some(Drift {
        inserts_per_page: a.drift_inserts,
        deletes_per_page: a.drift_deletes,
        max_events: a.drift_events,
    });
    SimConfig {
        personnel: a.personnel,
        controls: a.controls,
        seed: a.seed,
        latency: Duration::from_millis(a.latency_ms),
        keys: vec![ApiKeySpec { key: a.api_key.clone(), scopes: a.scopes.clone() }],
        faults: Faults {
            rate_limit: a.rate_limit.map(|per_second| RateLimit { per_second, burst: a.rate_burst }),
            rate_shape: rate_shape(a),
            rate_headers: a.rate_limit_headers,
            html_error_rate: a.html_error_rate,
            cut_rate: a.cut_rate,
            truncate_rate: a.truncate_rate,
            slow_rate: a.slow_rate,
            slow: Duration::from_millis(a.slow_ms),
            max_page_limit: a.max_page_limit,
            drift,
            unauthorized: a.unauthorized,
            html_login: a.html_login,
            vanished_rate: a.vanished_rate,
            broken_rate: a.broken_rate,
            total_skew: a.total_skew,
            fault_seed: a.fault_seed,
            unstable_order: a.unstable_order,
            cursor_echo: a.cursor_echo,
        },
        dialect: match a.dialect {
            SimDialectArg::Guide => SimDialect::Guide,
            SimDialectArg::V1 => SimDialect::V1,
            SimDialectArg::V2 => SimDialect::V2,
        },
        ..SimConfig::default()
    }
}

fn rate_shape(a: &SimulateArgs) -> LimiterShape {
    match a.rate_limit_shape {
        RateShapeArg::Bucket => LimiterShape::Bucket,
        RateShapeArg::Penalty => LimiterShape::Penalty { length: Duration::from_secs_f64(a.rate_limit_penalty) },
        RateShapeArg::Window => LimiterShape::Window { length: Duration::from_secs_f64(a.rate_limit_window) },
        RateShapeArg::Inflight => LimiterShape::InFlight,
    }
}

/// Serve until SIGINT/SIGTERM; the listening line is printed as soon as the port is bound.
pub async fn simulate(a: &SimulateArgs) -> Result<super::Outcome, EtlError> {
    let sim = Simulator::spawn(sim_config(a), a.listen)
        .await
        .map_err(|e| EtlError::new(FailureKind::Usage, format!("cannot listen on {}: {e}", a.listen)))?;
    println!(
        "{}",
        serde_json::json!({"listening": sim.addr.to_string(), "base_url": sim.base_url(), "personnel": a.personnel})
    );
    tracing::info!(addr = %sim.addr, personnel = a.personnel, dialect = ?a.dialect, "simulator serving; stop with Ctrl-C");
    crate::signals::shutdown_signal().await;
    let stats = sim.sim.stats();
    tracing::info!(requests = stats.requests_total, peak_in_flight = stats.peak_in_flight, "simulator stopped");
    sim.shutdown().await;
    Ok(super::Outcome::done(String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn faults(args: &[&str]) -> Faults {
        let cli = Cli::try_parse_from([&["drata-etl", "simulate", "--rate-limit", "40"], args].concat()).unwrap();
        let Command::Simulate(a) = cli.command else { panic!("not simulate") };
        sim_config(&a).faults
    }

    #[test]
    fn limiter_shape_flags_reach_the_simulator() {
        let d = faults(&[]);
        assert_eq!((d.rate_shape, d.rate_headers), (LimiterShape::Bucket, true));
        let p = faults(&["--rate-limit-shape", "penalty", "--rate-limit-penalty", "5"]);
        assert_eq!(p.rate_shape, LimiterShape::Penalty { length: Duration::from_secs(5) });
        let w = faults(&["--rate-limit-shape", "window", "--rate-limit-window", "60", "--rate-limit-headers", "false"]);
        assert_eq!((w.rate_shape, w.rate_headers), (LimiterShape::Window { length: Duration::from_secs(60) }, false));
        let i = faults(&["--rate-limit-shape", "inflight", "--rate-burst", "2"]);
        assert_eq!((i.rate_shape, i.rate_limit.unwrap().burst), (LimiterShape::InFlight, 2));
        for bad in
            [&["--rate-limit-shape", "leaky"][..], &["--rate-limit-penalty", "0"], &["--rate-limit-headers", "maybe"]]
        {
            assert!(Cli::try_parse_from([&["drata-etl", "simulate"], bad].concat()).is_err(), "{bad:?}");
        }
    }
}
