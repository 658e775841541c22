//! Object-store output end to end: the real binary writes to a real S3-compatible server on
//! loopback (moto's server, installed into .venv by scripts/test.sh) and reads back through
//! the same URLs: a full run, a rerun replacing the snapshot, a run killed mid-upload and the
//! clean run after it, a held lock, verify, list, prune, report and incremental reuse on the
//! bucket, a missing bucket, credentials from a shared AWS profile, and an independent reader
//! (pyarrow's S3 filesystem) loading the committed snapshots by their manifests. The same
//! runs, rerun, verify, list and prune against Azurite (Azure Storage's emulator) for az://,
//! and Delta tables there (read back by Python deltalake); Delta on S3: `delta_store_e2e`.
//!
//! Python: `$DRATA_ETL_PYTHON`, else `<repo>/.venv/bin/python`; Azurite: `$DRATA_ETL_AZURITE`,
//! else `<repo>/.azurite`. Without them these tests fail with a hint (they do not skip).

use crate::common::{bin, sim_config, start, Run};
use crate::moto::{python, MotoServer, BUCKET, HINT};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Enough people that the personnel file goes up in hundreds of 1 KiB parts in step 3.
const PEOPLE: usize = 800;

/// moto's S3 server (`crate::moto`) with this file's helpers.
struct Moto(MotoServer);

async fn start_moto() -> Moto {
    Moto(crate::moto::start().await)
}

impl std::ops::Deref for Moto {
    type Target = MotoServer;
    fn deref(&self) -> &MotoServer {
        &self.0
    }
}

impl Moto {
    /// Write an object with a signed request (boto3 from the same venv), as another writer would.
    fn put(&self, key: &str, body: &str) {
        let code = format!(
            "import boto3, sys; boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing-secret', region_name='us-east-1').put_object(Bucket='{BUCKET}', Key=sys.argv[1], Body=sys.argv[2].encode())",
            self.0.endpoint
        );
        let out = std::process::Command::new(python()).args(["-c", &code, key, body]).output().expect("python runs");
        assert!(out.status.success(), "put {key}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// pyarrow reads every committed snapshot under `prefix` by its manifest.
    fn pyarrow_check(&self, prefix: &str) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/interop/check_s3.py");
        let out = std::process::Command::new(python())
            .arg(script)
            .arg(&self.0.endpoint)
            .arg(format!("{BUCKET}/{prefix}"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "pyarrow check failed: {stdout}\n{}\n{HINT}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap()
    }
}

/// Stop or continue a process (SIGSTOP/SIGCONT), as a machine that stalls would.
fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let s = std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(s.success(), "kill {sig} {pid}");
}

/// Wait until a staged data file of a run shows under `prefix`/_staging/ (its upload began).
async fn wait_for_staged_upload(moto: &Moto, prefix: &str, child: &mut tokio::process::Child) {
    for _ in 0..6000 {
        if moto.keys(&format!("{prefix}/_staging/")).await.iter().any(|k| k.ends_with(".parquet")) {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its upload was seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no staged upload under {prefix}/_staging/ within 30 s");
}

/// Run `args` until it no longer exits 75 (a live lease), at most ~20 s.
async fn once_the_lease_lapsed(moto: &Moto, args: &[&str]) -> Run {
    for _ in 0..40 {
        let r = moto.run(args).await;
        if r.code != 75 {
            return r;
        }
        assert!(r.stderr.contains("another drata-etl run") || r.stdout.contains("skipped"), "{}{}", r.stdout, r.stderr);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the stalled run's lease never lapsed");
}

fn ok(r: &Run, what: &str) {
    assert_eq!(r.code, 0, "{what}: exit {}\nstdout: {}\nstderr: {}", r.code, r.stdout, r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_commit_verify_list_prune_and_read_back_on_s3() {
    let moto = start_moto().await;
    let sim = start(sim_config(PEOPLE)).await;
    let url = format!("s3://{BUCKET}/drata");
    let base = sim.base_url();
    let run = |at: &'static str, extra: &'static [&'static str]| {
        let (url, base) = (url.clone(), base.clone());
        let moto = &moto;
        async move {
            let mut args = vec!["run", "--base-url", &base, "--out", &url, "--run-at", at];
            args.extend_from_slice(extra);
            moto.run(&args).await
        }
    };

    // 1. A full run.
    let first = run("2026-03-01T02:00:00Z", &[]).await;
    ok(&first, "first run");
    let s = first.summary();
    assert_eq!(s["rows"]["personnel"], PEOPLE);
    assert_eq!(s["manifest"], format!("{url}/_snapshots/20260301T020000Z/_manifest.json"));
    let keys = moto.keys("drata/").await;
    assert!(keys.iter().all(|k| !k.starts_with("drata/_staging/")), "staging left behind: {keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("drata/_locks/")), "lock not released: {keys:?}");
    let read = moto.pyarrow_check("drata");
    assert_eq!(read["snapshots"]["20260301T020000Z"]["personnel"], PEOPLE);
    assert_eq!(read["unlisted"], serde_json::json!([]));

    // 2. A rerun with the same --run-at replaces the snapshot (new run id, same rows); its
    //    files above 4 KiB go up as multipart uploads.
    let again = run("2026-03-01T02:00:00Z", &["--upload-part-size", "4096"]).await;
    ok(&again, "rerun");
    assert_ne!(again.summary()["run_id"], s["run_id"]);
    let listed = moto.run(&["list", "--out", &url, "--format", "json"]).await;
    ok(&listed, "list");
    let v: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["run_id"], again.summary()["run_id"]);
    assert_eq!(v[0]["manifest"], format!("{url}/_snapshots/20260301T020000Z/_manifest.json"));

    // 3. A run killed mid-upload (many small multipart parts) leaves nothing a reader takes
    //    for data; after its lease the next run cleans up and commits.
    let mut slow = moto.cmd();
    slow.args(["run", "--base-url", &base, "--out", &url, "--run-at", "2026-03-02T02:00:00Z"]).args([
        "--upload-part-size",
        "1024",
        "--lock-lease",
        "4s",
    ]);
    let mut child = slow.spawn().unwrap();
    let mut killed_mid_upload = false;
    for _ in 0..3000 {
        if moto.keys("drata/_staging/").await.iter().any(|k| k.ends_with(".parquet")) {
            child.start_kill().unwrap();
            killed_mid_upload = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.wait().await.unwrap();
    assert!(killed_mid_upload, "the run finished before any staged upload was seen");
    let keys = moto.keys("drata/").await;
    assert!(!keys.iter().any(|k| k.contains("20260302T020000Z") && !k.starts_with("drata/_staging/")), "{keys:?}");
    let read = moto.pyarrow_check("drata");
    assert_eq!(read["snapshots"].as_object().unwrap().len(), 1, "{read}");
    assert_eq!(read["unlisted"], serde_json::json!([]));
    // While the lease lasts, the killed run's lock keeps the scope: exit 75.
    let busy = run("2026-03-02T02:00:00Z", &[]).await;
    assert_eq!(busy.code, 75, "{}", busy.stderr);
    assert!(busy.stderr.contains("another drata-etl run is writing to"), "{}", busy.stderr);
    // A lease of 4 s, judged by the store's clock (whole seconds on S3: one more second).
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let clean = run("2026-03-02T02:00:00Z", &[]).await;
    ok(&clean, "clean run after the kill");
    assert!(clean.stderr.contains("took over an expired lock"), "{}", clean.stderr);
    assert!(clean.stderr.contains("cleaned up after an interrupted earlier run"), "{}", clean.stderr);
    assert!(moto.keys("drata/_staging/").await.is_empty());

    // 4. verify reads every file back from the bucket; a damaged file is reported (65).
    let verified = moto.run(&["verify", "--out", &url, "--snapshot", "all"]).await;
    ok(&verified, "verify");
    assert!(verified.stdout.contains(&format!("2 snapshot(s) under {url} intact")), "{}", verified.stdout);

    // 5. Analytics read through the same URL (default build only).
    if cfg!(feature = "analytics") {
        let report = moto.run(&["report", "--out", &url, "--format", "json"]).await;
        ok(&report, "report");
        let r: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
        assert_eq!(r["snapshot_id"], "20260302T020000Z", "{r}");
    }

    // 6. An incremental run reuses the previous snapshot's rows from the bucket.
    let inc = run("2026-03-03T02:00:00Z", &["--incremental"]).await;
    ok(&inc, "incremental run");
    assert_eq!(inc.summary()["incremental"]["reused"], PEOPLE, "{}", inc.stdout);

    // diff and reconcile read the same URL.
    if cfg!(feature = "analytics") {
        let diff = moto.run(&["diff", "--out", &url, "--format", "json"]).await;
        ok(&diff, "diff");
        let d: serde_json::Value = serde_json::from_str(&diff.stdout).unwrap();
        assert_eq!(d["to"]["snapshot_id"], "20260303T020000Z", "{d}");
        let hris = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hris_sample.csv");
        let rec = moto.run(&["reconcile", "--out", &url, "--hris", hris.to_str().unwrap(), "--key", "email"]).await;
        ok(&rec, "reconcile");
    }

    // 7. prune --keep 1 removes the older snapshots, manifest first, and leaves no orphans.
    let pruned = moto.run(&["prune", "--out", &url, "--keep", "1"]).await;
    ok(&pruned, "prune");
    assert!(pruned.stdout.contains("removed 2 snapshot(s)"), "{}", pruned.stdout);
    let keys = moto.keys("drata/").await;
    assert!(!keys.iter().any(|k| k.contains("20260301T020000Z") || k.contains("20260302T020000Z")), "{keys:?}");
    let read = moto.pyarrow_check("drata");
    assert_eq!(read["snapshots"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["20260303T020000Z"]);
    assert_eq!(read["unlisted"], serde_json::json!([]));
    ok(&moto.run(&["verify", "--out", &url]).await, "verify after prune");

    // 8. Damage one object: verify exits 65 naming it.
    let victim = moto.keys("drata/personnel/").await.into_iter().next().unwrap();
    moto.put(&victim, "not parquet");
    let bad = moto.run(&["verify", "--out", &url]).await;
    assert_eq!(bad.code, 65, "{}", bad.stdout);
    assert!(bad.stdout.contains("FAILED"), "{}", bad.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_bad_url_and_held_lock_fail_clearly() {
    let moto = start_moto().await;
    let sim = start(sim_config(5)).await;
    let base = sim.base_url();

    let missing = moto.run(&["run", "--base-url", &base, "--out", "s3://no-such-bucket/x"]).await;
    assert_eq!(missing.code, 73, "{}", missing.stderr);
    assert!(missing.stderr.contains("s3://no-such-bucket/x"), "{}", missing.stderr);
    assert!(missing.stderr.contains("bucket"), "{}", missing.stderr);
    assert!(!missing.stderr.contains("testing-secret"), "secret in the error");

    // `check --out` probes the store before any run: listing, writing, conditional puts.
    let checked = moto.run(&["check", "--base-url", &base, "--out", "s3://no-such-bucket/x"]).await;
    assert_eq!(checked.code, 73, "{}", checked.stdout);
    assert!(checked.stdout.contains("FAIL") && checked.stdout.contains("no-such-bucket"), "{}", checked.stdout);
    let checked = moto.run(&["check", "--base-url", &base, "--out", &format!("s3://{BUCKET}/fresh")]).await;
    assert_eq!(checked.code, 0, "{}\n{}", checked.stdout, checked.stderr);
    assert!(checked.stdout.contains("conditional puts work"), "{}", checked.stdout);
    assert!(moto.keys("fresh/").await.is_empty(), "the probe object was left behind");

    let bad = moto.run(&["run", "--base-url", &base, "--out", "ftp://host/x"]).await;
    assert_eq!(bad.code, 64, "{}", bad.stderr);
    let creds = moto.run(&["list", "--out", "s3://user:pw@bucket/x"]).await;
    assert_eq!(creds.code, 64, "{}", creds.stderr);

    // A live lock (someone else's, lease in the future): run and prune exit 75, nothing changes.
    let url = format!("s3://{BUCKET}/held");
    ok(&moto.run(&["run", "--base-url", &base, "--out", &url, "--run-at", "2026-01-01T00:00:00Z"]).await, "first run");
    let before = moto.keys("held/").await;
    let far = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = serde_json::json!({"run_id": "other", "host": "h", "pid": 1, "acquired_at": far, "expires_at": far});
    moto.put("held/_locks/_default.lock", &body.to_string());
    let run = moto.run(&["run", "--base-url", &base, "--out", &url]).await;
    assert_eq!(run.code, 75, "{}", run.stderr);
    assert!(run.stderr.contains("held by run other"), "{}", run.stderr);
    let prune = moto.run(&["prune", "--out", &url, "--keep", "1"]).await;
    assert_eq!(prune.code, 75, "{}\n{}", prune.stdout, prune.stderr);
    assert!(prune.stdout.contains("skipped"), "{}", prune.stdout);
    let mut after = moto.keys("held/").await;
    after.retain(|k| !k.ends_with(".lock"));
    assert_eq!(after, before, "a refused run or prune changed the bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_a_shared_profile_and_the_sdk_endpoint_variable() {
    let moto = start_moto().await;
    let sim = start(sim_config(12)).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(&creds, "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n[etl]\naws_access_key_id = testing\naws_secret_access_key = testing-secret\n").unwrap();
    std::fs::write(&config, "[profile etl]\nregion = us-east-1\n").unwrap();
    let url = format!("s3://{BUCKET}/profile");
    // No AWS_ACCESS_KEY_ID and no --s3-endpoint: the profile and AWS_ENDPOINT_URL (http).
    // Without the files there would be no credentials at all (the run exits 73); which
    // profile is picked is covered by the unit tests of src/store/aws_profile.rs.
    let out = bin()
        .env("AWS_PROFILE", "etl")
        .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_ENDPOINT_URL", &moto.0.endpoint)
        .args(["run", "--base-url", &sim.base_url(), "--out", &url])
        .output()
        .await
        .unwrap();
    let r: Run = out.into();
    ok(&r, "run with a shared profile");
    assert_eq!(r.summary()["rows"]["personnel"], 12);
    assert!(!r.stderr.contains("testing-secret") && !r.stdout.contains("testing-secret"));
    assert!(moto.keys("profile/_snapshots/").await.iter().any(|k| k.ends_with("_manifest.json")));
}

/// Azurite (Azure Storage's emulator, from npm via scripts/test.sh) on a free loopback port,
/// with one container created through the Azure SDK; killed on drop.
struct Azurite {
    _child: tokio::process::Child,
    endpoint: String,
}

const AZ_CONTAINER: &str = "snapshots";

async fn start_azurite() -> Azurite {
    let bin = std::env::var_os("DRATA_ETL_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".azurite/node_modules/.bin/azurite-blob"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(&bin)
        .args(["--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--blobHost", "127.0.0.1"])
        .args(["--blobPort", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start Azurite ({}): {e}; run `scripts/test.sh`, which installs it from npm", bin.display())
        });
    let endpoint = format!("http://127.0.0.1:{port}");
    let code = format!(
        "from azure.storage.blob import BlobServiceClient as B; B.from_connection_string('DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint={endpoint}/devstoreaccount1;').create_container('{AZ_CONTAINER}')"
    );
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            let out = std::process::Command::new(python()).args(["-c", &code]).output().expect("python runs");
            assert!(
                out.status.success(),
                "creating the container failed: {}\n{HINT}",
                String::from_utf8_lossy(&out.stderr)
            );
            return Azurite { _child: child, endpoint };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Azurite did not come up on {endpoint} within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_storage_through_the_emulator() {
    let az = start_azurite().await;
    let sim = start(sim_config(40)).await;
    let url = format!("az://{AZ_CONTAINER}/drata");
    let base = sim.base_url();
    let run = |args: &[&str]| {
        let mut c = bin();
        // The emulator's well-known account and key; object_store reads these variables.
        c.env("AZURE_STORAGE_USE_EMULATOR", "true").env("AZURITE_BLOB_STORAGE_URL", &az.endpoint).args(args);
        async move { Run::from(c.output().await.expect("binary runs")) }
    };
    let checked = run(&["check", "--base-url", &base, "--out", &url]).await;
    assert_eq!(checked.code, 0, "{}\n{}", checked.stdout, checked.stderr);
    assert!(checked.stdout.contains("conditional puts work"), "{}", checked.stdout);
    for at in ["2026-04-01T00:00:00Z", "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"] {
        let r = run(&["run", "--base-url", &base, "--out", &url, "--run-at", at]).await;
        ok(&r, "run on Azure");
        assert_eq!(r.summary()["rows"]["personnel"], 40);
    }
    let listed = run(&["list", "--out", &url, "--format", "json"]).await;
    ok(&listed, "list");
    let v: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
    let ids: Vec<&str> = v.as_array().unwrap().iter().map(|s| s["snapshot_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["20260401T000000Z", "20260402T000000Z"], "the rerun replaced its snapshot");
    let verified = run(&["verify", "--out", &url, "--snapshot", "all"]).await;
    ok(&verified, "verify");
    assert!(verified.stdout.contains("2 snapshot(s) under az://snapshots/drata intact"), "{}", verified.stdout);
    let pruned = run(&["prune", "--out", &url, "--keep", "1"]).await;
    ok(&pruned, "prune");
    let listed = run(&["list", "--out", &url, "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    ok(&run(&["verify", "--out", &url]).await, "verify after prune");

    // Delta tables in the container: each log version a conditional create (If-None-Match).
    #[cfg(feature = "delta")]
    {
        let lake = format!("az://{AZ_CONTAINER}/lake");
        for (at, version) in [("2026-04-01T00:00:00Z", 0), ("2026-04-01T00:00:00Z", 1), ("2026-04-02T00:00:00Z", 2)] {
            let r = run(&["run", "--base-url", &base, "--out", &lake, "--run-at", at, "--table-format", "delta"]).await;
            ok(&r, "delta run on Azure");
            let delta = r.summary()["delta"].clone();
            let personnel = delta.as_array().unwrap().iter().find(|t| t["table"] == "personnel").unwrap().clone();
            assert_eq!(personnel["version"], version, "{delta}");
        }
        let verified = run(&["verify", "--out", &lake, "--snapshot", "all"]).await;
        ok(&verified, "verify delta");
        assert!(verified.stdout.contains("ok      Delta logs  no workspace"), "{}", verified.stdout);
        // Python deltalake reads the table from the emulator: two snapshots of 40, the rerun once.
        // os._exit: the reader's runtime threads have aborted the interpreter's own exit.
        let code = "import collections, deltalake, os, sys; t = deltalake.DeltaTable(sys.argv[1], storage_options={'AZURE_STORAGE_USE_EMULATOR': 'true', 'AZURE_STORAGE_ALLOW_HTTP': 'true'}).to_pyarrow_table(); print(t.num_rows, t.schema.names[-1], sorted(collections.Counter(t.column('snapshot_id').to_pylist()).items()), flush=True); os._exit(0)";
        let out = std::process::Command::new(python())
            .args(["-c", code, &format!("{lake}/personnel")])
            .env("AZURITE_BLOB_STORAGE_URL", &az.endpoint)
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}\n{HINT}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            stdout.trim(),
            "80 snapshot_id [('20260401T000000Z', 40), ('20260402T000000Z', 40)]",
            "deltalake reads the log in the container"
        );
    }
}

/// A run stalls after its upload (a stopped or starved process) until its lease lapses; a
/// successor takes the scope over and commits the same snapshot id. Resumed, the stalled
/// run must not write its intent or touch the successor's snapshot: exit 75.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_lost_its_lock_during_upload_refuses_to_commit() {
    let moto = start_moto().await;
    let sim = start(sim_config(30)).await;
    let (url, base) = (format!("s3://{BUCKET}/fenced"), sim.base_url());
    let args = ["run", "--base-url", &base, "--out", &url, "--run-at", "2026-05-01T00:00:00Z", "--lock-lease", "2s"];
    let mut stalled = moto.cmd();
    stalled.args(args).env("DRATA_ETL_TEST_PAUSE_BEFORE_INTENT_MS", "1500");
    stalled.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = stalled.spawn().unwrap();
    wait_for_staged_upload(&moto, "fenced", &mut child).await;
    signal(&child, "-STOP");
    let successor = once_the_lease_lapsed(&moto, &args).await;
    ok(&successor, "successor");
    assert!(successor.stderr.contains("took over an expired lock"), "{}", successor.stderr);
    signal(&child, "-CONT");
    let late: Run = child.wait_with_output().await.unwrap().into();
    assert_eq!(late.code, 75, "the stalled run committed:\n{}", late.stderr);
    assert!(late.stderr.contains("lost its lock") && late.stderr.contains("nothing was committed"), "{}", late.stderr);
    let keys = moto.keys("fenced/").await;
    assert!(!keys.iter().any(|k| k.ends_with("_commit.json")), "the stalled run wrote an intent: {keys:?}");
    let listed = moto.run(&["list", "--out", &url, "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["run_id"], successor.summary()["run_id"], "the successor's snapshot stands");
    ok(&moto.run(&["verify", "--out", &url, "--snapshot", "all"]).await, "verify");
}

/// A run stalls before its intent; prune takes over its lapsed lease, discards its staged
/// files and prunes. Resumed, the run must refuse (75) instead of writing an intent over
/// staging that is gone (which would wedge every later run's recovery); the scope stays
/// usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_against_a_stalled_run() {
    let moto = start_moto().await;
    let sim = start(sim_config(30)).await;
    let (url, base) = (format!("s3://{BUCKET}/pruned"), sim.base_url());
    for at in ["2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"] {
        ok(&moto.run(&["run", "--base-url", &base, "--out", &url, "--run-at", at]).await, "earlier run");
    }
    let mut stalled = moto.cmd();
    stalled.args(["run", "--base-url", &base, "--out", &url, "--run-at", "2026-06-01T00:00:00Z", "--lock-lease", "2s"]);
    stalled.env("DRATA_ETL_TEST_PAUSE_BEFORE_INTENT_MS", "1500");
    stalled.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = stalled.spawn().unwrap();
    wait_for_staged_upload(&moto, "pruned", &mut child).await;
    signal(&child, "-STOP");
    let pruned = once_the_lease_lapsed(&moto, &["prune", "--out", &url, "--keep", "1"]).await;
    ok(&pruned, "prune");
    assert!(pruned.stdout.contains("removed 1 snapshot(s)"), "{}", pruned.stdout);
    assert!(pruned.stderr.contains("took over an expired lock"), "{}", pruned.stderr);
    assert!(moto.keys("pruned/_staging/").await.is_empty(), "prune discarded the stalled run's staging");
    assert!(!moto.keys("pruned/_locks/").await.iter().any(|k| k.ends_with(".lock")), "prune released its lock");
    signal(&child, "-CONT");
    let late: Run = child.wait_with_output().await.unwrap().into();
    assert_eq!(late.code, 75, "the stalled run went on:\n{}", late.stderr);
    assert!(late.stderr.contains("lost its lock"), "{}", late.stderr);
    assert!(!moto.keys("pruned/").await.iter().any(|k| k.ends_with("_commit.json")), "an intent was written");
    let listed = moto.run(&["list", "--out", &url, "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
    assert_eq!(
        v.as_array().unwrap().iter().map(|s| s["snapshot_id"].clone()).collect::<Vec<_>>(),
        ["20260602T000000Z"]
    );
    ok(&moto.run(&["verify", "--out", &url, "--snapshot", "all"]).await, "verify");
    let next = moto.run(&["run", "--base-url", &base, "--out", &url, "--run-at", "2026-06-03T00:00:00Z"]).await;
    ok(&next, "the next run");
}

/// SIGKILL inside the window after the store's commit intent (held open by the test-only
/// pause), 20 times: each time the next run rolls the killed commit forward, and the
/// snapshot it commits is the killed run's and verifies. The killed run's lock is deleted
/// after each kill (lease expiry itself is covered above), so trials do not wait a lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_the_store_commit_intent_is_rolled_forward() {
    let moto = start_moto().await;
    let sim = start(sim_config(10)).await;
    let (url, base) = (format!("s3://{BUCKET}/crash"), sim.base_url());
    let mut killed: Vec<(String, String)> = Vec::new();
    // The run id of a committed snapshot, as `list` (which reads manifests only) reports it.
    let committed_run = |snapshot: String| {
        let (moto, url) = (&moto, &url);
        async move {
            let listed = moto.run(&["list", "--out", url, "--format", "json"]).await;
            ok(&listed, "list");
            let v: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
            let found = v.as_array().unwrap().iter().find(|s| s["snapshot_id"] == snapshot.as_str()).cloned();
            found.map(|s| s["run_id"].as_str().unwrap().to_string())
        }
    };
    for i in 0..=20 {
        let hour = match i {
            20 => 23,
            _ if i % 3 == 2 => i - 1,
            _ => i,
        };
        let run_at = format!("2026-07-01T{hour:02}:00:00Z");
        if i == 20 {
            ok(&moto.run(&["run", "--base-url", &base, "--out", &url, "--run-at", &run_at]).await, "last run");
        } else {
            let mut c = moto.cmd();
            c.args(["run", "--base-url", &base, "--out", &url, "--run-at", &run_at]);
            c.env("DRATA_ETL_TEST_PAUSE_AFTER_INTENT_MS", "60000");
            c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            let mut child = c.spawn().unwrap();
            let mut found = None;
            for _ in 0..3000 {
                let keys = moto.keys("crash/_staging/").await;
                found = keys.iter().filter_map(|k| k.strip_suffix("/_commit.json")).find_map(|dir| {
                    let (snapshot, run) = dir.rsplit('/').next()?.split_once('.')?;
                    let f = (snapshot.to_string(), run.to_string());
                    (killed.last() != Some(&f)).then_some(f)
                });
                if found.is_some() || child.try_wait().unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let found = found.unwrap_or_else(|| panic!("trial {i}: the run never wrote its commit intent"));
            child.start_kill().unwrap();
            assert!(child.wait().await.unwrap().code().is_none(), "trial {i}: the run ended by itself");
            assert_eq!(found.0, format!("20260701T{hour:02}0000Z"));
            killed.push(found);
            moto.delete("crash/_locks/_default.lock");
        }
        let Some((snapshot, run)) = killed.iter().rev().nth(if i == 20 { 0 } else { 1 }).cloned() else { continue };
        assert_eq!(committed_run(snapshot.clone()).await, Some(run), "trial {i}: {snapshot} not rolled forward");
    }
    let verified = moto.run(&["verify", "--out", &url, "--snapshot", "all"]).await;
    ok(&verified, "verify");
    assert!(verified.stdout.contains(&format!("15 snapshot(s) under {url} intact")), "{}", verified.stdout);
    assert!(moto.keys("crash/_staging/").await.is_empty());
}
