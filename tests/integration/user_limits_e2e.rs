//! Absurd numbers from the user end in exit 64 with a message naming the setting and its
//! accepted range, never a panic: every numeric flag, a few through their environment
//! variables and through the `--config` file. No server is needed: nothing may get past
//! parsing.

use crate::common::{bin, Run};
use std::time::Duration;

/// One invocation: arguments, environment, an optional config file's text, and what the
/// error must name.
struct Case {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    config: Option<&'static str>,
    needles: &'static [&'static str],
}

const fn flag(args: &'static [&'static str], needles: &'static [&'static str]) -> Case {
    Case { args, env: &[], config: None, needles }
}

const fn env(
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    needles: &'static [&'static str],
) -> Case {
    Case { args, env, config: None, needles }
}

const fn file(args: &'static [&'static str], config: &'static str, needles: &'static [&'static str]) -> Case {
    Case { args, env: &[], config: Some(config), needles }
}

const RUN: &str = "run";

const CASES: &[Case] = &[
    // The four, as flags.
    flag(&[RUN, "--request-timeout", "1e20"], &["--request-timeout", "100ms to 1h"]),
    flag(&[RUN, "--deadline", "1e19"], &["--deadline", "1s to 7d"]),
    flag(&[RUN, "--max-rps", "1e-300"], &["--max-rps", "0.01 to 10000"]),
    flag(&[RUN, "--upload-part-size", "1024"], &["--upload-part-size", "5242880 to 5368709120"]),
    // Every other duration and rate of `run`, at both ends and beyond what a Duration holds.
    flag(&[RUN, "--deadline=-5"], &["--deadline", "1s to 7d"]),
    flag(&[RUN, "--max-wait", "1e15"], &["--max-wait", "0s to 7d"]),
    flag(&[RUN, "--refresh-after", "1e18"], &["--refresh-after", "0s to 365d"]),
    flag(&[RUN, "--lock-lease", "1e19"], &["--lock-lease", "1s to 1h"]),
    flag(&[RUN, "--lock-lease", "0s"], &["--lock-lease", "1s to 1h"]),
    flag(&[RUN, "--request-timeout", "0"], &["--request-timeout", "100ms to 1h"]),
    flag(&[RUN, "--max-rps", "NaN"], &["--max-rps", "0.01 to 10000"]),
    flag(&[RUN, "--max-rps", "inf"], &["--max-rps", "0.01 to 10000"]),
    flag(&[RUN, "--max-rps=-1"], &["--max-rps", "0.01 to 10000"]),
    flag(&[RUN, "--upload-part-size", "18446744073709551615"], &["--upload-part-size", "5368709120"]),
    flag(&[RUN, "--concurrency", "0"], &["--concurrency", "1..=1024"]),
    flag(&[RUN, "--page-size", "4294967296"], &["--page-size", "1..=1000"]),
    flag(&[RUN, "--max-retries", "1000000"], &["--max-retries", "1..=100"]),
    flag(&[RUN, "--max-list-passes", "0"], &["--max-list-passes", "1..=50"]),
    flag(&[RUN, "--max-failed-enrichments", "1e400%"], &["--max-failed-enrichments", "0% and 100%"]),
    // The other commands.
    flag(&["check", "--request-timeout", "1e20"], &["--request-timeout", "100ms to 1h"]),
    flag(&["prune", "--out", "/nonexistent", "--keep-days", "4000000000"], &["--keep-days", "0..=36500"]),
    flag(&["prune", "--out", "/nonexistent", "--keep", "0"], &["--keep", "not in"]),
    flag(&["demo", "--personnel", "1000000000000"], &["--personnel", "0..=1000000"]),
    flag(&["demo", "--latency-ms", "18446744073709551615"], &["--latency-ms", "0..=60000"]),
    flag(&["demo", "--deadline", "1e19"], &["--deadline", "1s to 7d"]),
    flag(&["simulate", "--html-error-rate", "2"], &["--html-error-rate", "0 to 1"]),
    flag(&["simulate", "--vanished-rate=-0.5"], &["--vanished-rate", "0 to 1"]),
    flag(&["simulate", "--rate-limit", "1e-300"], &["--rate-limit", "0.01 to 100000"]),
    flag(&["simulate", "--rate-burst", "0"], &["--rate-burst", "1..=100000"]),
    flag(&["simulate", "--total-skew=-9223372036854775808"], &["--total-skew", "-1000000000..=1000000000"]),
    flag(&["simulate", "--slow-ms", "18446744073709551615"], &["--slow-ms", "0..=3600000"]),
    flag(&["simulate", "--personnel", "18446744073709551615"], &["--personnel", "0..=10000000"]),
    // Environment variables.
    env(&[RUN], &[("DRATA_ETL_REQUEST_TIMEOUT", "1e20")], &["--request-timeout", "100ms to 1h"]),
    env(&[RUN], &[("DRATA_ETL_DEADLINE", "1e19")], &["--deadline", "1s to 7d"]),
    env(&[RUN], &[("DRATA_ETL_MAX_RPS", "1e-300")], &["--max-rps", "0.01 to 10000"]),
    env(&[RUN], &[("DRATA_ETL_UPLOAD_PART_SIZE", "1024")], &["--upload-part-size", "5242880 to 5368709120"]),
    env(&["simulate"], &[("DRATA_SIM_LATENCY_MS", "99999999")], &["--latency-ms", "0..=60000"]),
    // The config file (numbers as TOML numbers and as strings).
    file(&[RUN], "request_timeout = 1e20\n", &["`request_timeout`", "--request-timeout", "100ms to 1h"]),
    file(&[RUN], "deadline = \"1e19\"\n", &["`deadline`", "--deadline", "1s to 7d"]),
    file(&[RUN], "max_rps = 1e-300\n", &["`max_rps`", "--max-rps", "0.01 to 10000"]),
    file(&[RUN], "upload_part_size = 1024\n", &["`upload_part_size`", "--upload-part-size", "5242880"]),
    file(&[RUN], "lock-lease = \"1000000h\"\n", &["`lock_lease`", "--lock-lease", "1s to 1h"]),
    file(&[RUN], "concurrency = 9223372036854775807\n", &["`concurrency`", "1..=1024"]),
];

/// The run, or `None` when it was still running after 20 s (the value was accepted).
async fn invoke(case: &Case, dir: &std::path::Path) -> Option<Run> {
    let mut c = bin();
    c.args(case.args);
    if case.args[0] == RUN {
        c.arg("--out").arg(dir.join("out"));
    }
    if let Some(text) = case.config {
        let path = dir.join("etl.toml");
        std::fs::write(&path, text).unwrap();
        c.arg("--config").arg(path);
    }
    for (k, v) in case.env {
        c.env(k, v);
    }
    // Nothing may start: a value that got through would start a run or a server.
    let out = tokio::time::timeout(Duration::from_secs(20), c.output()).await.ok()?;
    Some(out.expect("binary runs").into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_numbers_exit_64_naming_the_setting_and_its_range() {
    let tmp = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for case in CASES {
        let what = format!("{:?} env {:?} config {:?}", case.args, case.env, case.config);
        let Some(r) = invoke(case, tmp.path()).await else {
            problems.push(format!("{what}: still running after 20 s (the value was accepted)"));
            continue;
        };
        if r.code != 64 {
            problems.push(format!("{what}: exit {} (want 64); stderr: {}", r.code, r.stderr));
            continue;
        }
        if r.stderr.contains("panicked") {
            problems.push(format!("{what}: panicked: {}", r.stderr));
        }
        for n in case.needles {
            if !r.stderr.contains(n) {
                problems.push(format!("{what}: stderr does not say {n:?}: {}", r.stderr));
            }
        }
        if tmp.path().join("out").exists() {
            problems.push(format!("{what}: created the output root"));
            let _ = std::fs::remove_dir_all(tmp.path().join("out"));
        }
    }
    assert!(problems.is_empty(), "{} of {} cases failed:\n{}", problems.len(), CASES.len(), problems.join("\n"));
}

/// The edges of each range are accepted (`config show` parses and prints without a run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ends_of_each_range_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let args: &[&str] = &[
        "config",
        "show",
        "--request-timeout",
        "100ms",
        "--deadline",
        "7d",
        "--max-wait",
        "0s",
        "--refresh-after",
        "365d",
        "--lock-lease",
        "1h",
        "--max-rps",
        "0.01",
        "--upload-part-size",
        "5368709120",
    ];
    let mut c = bin();
    c.args(args).arg("--out").arg(tmp.path());
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("5368709120"), "{}", r.stdout);
}
