//! `--api-key-command`: the key comes from a command's stdout (a secrets manager's CLI), with
//! the documented precedence, exit codes and messages, and never shows up anywhere: not in
//! stdout, stderr, the manifest or `config show`.

use crate::common::*;

/// Every file under `dir`, as text where it is text.
fn all_text_under(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in walkdir(dir) {
        if let Ok(t) = std::fs::read(&e) {
            out.push_str(&String::from_utf8_lossy(&t));
        }
    }
    out
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walkdir(&p));
        } else {
            v.push(p);
        }
    }
    v
}

async fn run_with(sim: &drata_etl::sim::RunningSim, out: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = bin();
    c.env_remove("DRATA_API_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(out).args(args);
    c.output().await.unwrap().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_comes_from_the_command_and_appears_nowhere() {
    let sim = start(sim_config(12)).await;
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("vault.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho 'fetching from vault' >&2\nprintf '%s\\n' '{KEY}'\n")).unwrap();
    let cmd = format!("sh {}", script.display());
    let out = tmp.path().join("out");
    let r = run_with(&sim, &out, &[], &["--api-key-command", &cmd]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));
    assert!(!all_text_under(&out).contains(KEY), "the key is in a committed file");
    // The environment variable form, and precedence over DRATA_API_KEY (a wrong key there).
    let r =
        run_with(&sim, &tmp.path().join("out2"), &[("DRATA_API_KEY_COMMAND", &cmd), ("DRATA_API_KEY", "wrong")], &[])
            .await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // config show names the source, masks the command and never runs it.
    let marker = tmp.path().join("ran");
    let cmd2 = format!("touch {}; echo {KEY}", marker.display());
    let mut c = bin();
    c.env_remove("DRATA_API_KEY").args(["config", "show", "--format", "json", "--api-key-command", &cmd2]);
    let o: Run = c.output().await.unwrap().into();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["settings"]["api_key"]["source"], "api_key_command (flag --api-key-command)", "{v}");
    assert_eq!(v["settings"]["api_key_command"]["value"], "***", "{v}");
    assert!(!o.stdout.contains("touch") && !marker.exists());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_hanging_command_is_a_clear_error_with_its_exit_code() {
    let sim = start(sim_config(3)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // Fails: 77, with its stderr and status, never its stdout or command line.
    let r =
        run_with(&sim, &out, &[], &["--api-key-command", "X=tok-5150; echo half-key; echo 'vault sealed' >&2; exit 2"])
            .await;
    assert_eq!(r.code, 77, "{}", r.stderr);
    assert!(r.stderr.contains("vault sealed") && r.stderr.contains("status 2"), "{}", r.stderr);
    assert!(!r.stderr.contains("half-key") && !r.stderr.contains("tok-5150"), "{}", r.stderr);
    // Hangs: stopped at its timeout, 75 (retry later).
    let started = std::time::Instant::now();
    let r = run_with(&sim, &out, &[], &["--api-key-command", "sleep 60", "--api-key-command-timeout", "1s"]).await;
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(r.stderr.contains("did not finish within"), "{}", r.stderr);
    // Both a key file and a key command: which one is meant is unclear (64).
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, KEY).unwrap();
    let r =
        run_with(&sim, &out, &[], &["--api-key-command", "echo x", "--api-key-file", key_file.to_str().unwrap()]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("keep one of them"), "{}", r.stderr);
    // The timeout's range is checked like every number (64 naming the flag).
    let r = run_with(&sim, &out, &[], &["--api-key-command", "echo x", "--api-key-command-timeout", "2h"]).await;
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("api-key-command-timeout"), "{}", r.stderr);
    // Nothing was committed by any of these.
    assert!(!out.join("_snapshots").exists());
    sim.shutdown().await;
}
