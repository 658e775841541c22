//! End-to-end: what the tool reads back from an output root is untrusted input. A planted
//! hostile manifest (an absolute file path, `..`, another partition's file, a snapshot id
//! like `../../etc`) makes `verify`, `report` and `run --incremental` exit 65 naming the
//! manifest and the field, `list` name it without listing it, and `prune` leave it alone
//! (65); a sentinel file outside the root is neither created nor truncated, on a local root
//! and through the object-store mirror (moto's S3 server). And a previous snapshot whose
//! `enriched_at` lies in the future does not make its people look fresh forever.
//!
//! Python (moto): `$DRATA_ETL_PYTHON`, else `<repo>/.venv/bin/python`; without it the S3
//! test fails with a hint (it does not skip).

use crate::common::*;
use crate::moto::{python, MotoServer, BUCKET};
use arrow::array::{Array, RecordBatch, TimestampMicrosecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

const FIRST: &str = "2026-04-01T00:00:00Z";
const FIRST_ID: &str = "20260401T000000Z";
const SENTINEL: &str = "keep me: not for drata-etl to touch";

async fn cmd(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = bin();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().await.expect("binary runs").into()
}

/// The committed manifest of FIRST, as JSON.
fn first_manifest(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join(format!("_snapshots/{FIRST_ID}/_manifest.json"))).unwrap()).unwrap()
}

/// `m` moved to a later snapshot id (so it is the latest), its files still FIRST's.
fn as_later(mut m: Value) -> Value {
    m["snapshot_id"] = "20990101T000000Z".into();
    m["snapshot_date"] = "2099-01-01".into();
    m["run_at"] = "2099-01-01T00:00:00Z".into();
    m
}

/// Make every personnel file path of `m` point at its own (2099) partition, so only the
/// mutation a case makes is wrong.
fn own_paths(m: &mut Value) {
    for t in m["tables"].as_object_mut().unwrap().values_mut() {
        for f in t["files"].as_array_mut().unwrap() {
            let p =
                f["path"].as_str().unwrap().replace(FIRST_ID, "20990101T000000Z").replace("2026-04-01", "2099-01-01");
            f["path"] = p.into();
        }
    }
}

fn all_text(r: &Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_manifests_in_a_local_root_are_exit_65_and_touch_nothing_outside() {
    let sim = start(sim_config(20)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = run_etl(&sim, &out, &["--run-at", FIRST]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sentinel = tmp.path().join("sentinel");
    std::fs::write(&sentinel, SENTINEL).unwrap();
    let good = first_manifest(&out);
    let first_file = good["tables"]["personnel"]["files"][0]["path"].as_str().unwrap().to_string();

    // (folder under _snapshots, the manifest, the field the error must name)
    let path_field = "tables.personnel.files[0].path";
    let with_path = |p: &str| {
        let mut m = as_later(good.clone());
        own_paths(&mut m);
        m["tables"]["personnel"]["files"][0]["path"] = p.into();
        m
    };
    let mut bad_id = good.clone();
    bad_id["snapshot_id"] = "../../etc".into();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("20990101T000000Z", with_path(sentinel.to_str().unwrap()), path_field),
        ("20990101T000000Z", with_path("../sentinel"), path_field),
        ("20990101T000000Z", with_path("../../x"), path_field),
        ("20990101T000000Z", with_path(&first_file), path_field), // another snapshot's partition
        ("evil", bad_id, "snapshot_id"),
    ];
    let out_s = out.to_str().unwrap();
    for (dir, manifest, field) in cases {
        let planted = out.join("_snapshots").join(dir);
        std::fs::create_dir_all(&planted).unwrap();
        let manifest_file = planted.join("_manifest.json");
        std::fs::write(&manifest_file, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        let named = manifest_file.display().to_string();

        let r = cmd(&["verify", "--out", out_s], &[]).await;
        assert_eq!(r.code, 65, "verify {dir}/{field}: {}", all_text(&r));
        assert!(r.stdout.contains(&named) && r.stdout.contains(field), "verify names it: {}", all_text(&r));
        let r = cmd(&["report", "--out", out_s], &[]).await;
        assert_eq!(r.code, 65, "report {dir}/{field}: {}", all_text(&r));
        assert!(all_text(&r).contains(&named) && all_text(&r).contains(field), "{}", all_text(&r));
        let r = run_etl(&sim, &out, &["--run-at", "2026-04-02T00:00:00Z", "--incremental"]).await;
        assert_eq!(r.code, 65, "run --incremental {dir}/{field}: {}", all_text(&r));
        assert!(r.summary()["message"].as_str().unwrap().contains(field), "{}", r.stdout);
        let r = cmd(&["list", "--out", out_s], &[]).await;
        assert_eq!(r.code, 0, "{}", all_text(&r));
        assert!(r.stdout.contains(FIRST_ID) && r.stdout.contains("rejected manifest"), "{}", r.stdout);
        let r = cmd(&["prune", "--out", out_s, "--keep", "1"], &[]).await;
        assert_eq!(r.code, 65, "prune {dir}/{field}: {}", all_text(&r));
        assert!(manifest_file.is_file(), "prune leaves what it cannot validate");

        assert_eq!(std::fs::read_to_string(&sentinel).unwrap(), SENTINEL, "{dir}/{field}");
        assert!(!tmp.path().join("x").exists());
        std::fs::remove_dir_all(&planted).unwrap();
    }
    // The good snapshot is intact and nothing half-done was left behind.
    let r = cmd(&["verify", "--out", out_s, "--snapshot", "all"], &[]).await;
    assert_eq!(r.code, 0, "{}", all_text(&r));
    assert!(r.stdout.contains(FIRST_ID));
    sim.shutdown().await;
}

/// moto's S3 server (`crate::moto`) with this file's helpers.
struct Moto(MotoServer);

async fn start_moto() -> Moto {
    Moto(crate::moto::start().await)
}

impl Moto {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("DRATA_ETL_S3_ENDPOINT", self.0.endpoint.clone()),
        ]
    }

    /// Write an object with a signed request (boto3 from the same venv), as an attacker with
    /// write access to the bucket would.
    fn put(&self, key: &str, body: &[u8]) {
        let code = format!(
            "import boto3, sys; boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing-secret', region_name='us-east-1').put_object(Bucket='{BUCKET}', Key=sys.argv[1], Body=open(sys.argv[2], 'rb').read())",
            self.0.endpoint
        );
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), body).unwrap();
        let out = std::process::Command::new(python())
            .args(["-c", &code, key, f.path().to_str().unwrap()])
            .output()
            .expect("python runs");
        assert!(out.status.success(), "put {key}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn get(&self, key: &str) -> Vec<u8> {
        let code = format!(
            "import boto3, sys; sys.stdout.buffer.write(boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing-secret', region_name='us-east-1').get_object(Bucket='{BUCKET}', Key=sys.argv[1])['Body'].read())",
            self.0.endpoint
        );
        let out = std::process::Command::new(python()).args(["-c", &code, key]).output().expect("python runs");
        assert!(out.status.success(), "get {key}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_manifests_in_a_bucket_write_nothing_outside_the_mirror() {
    let moto = start_moto().await;
    let sim = start(sim_config(20)).await;
    let tmp = tempfile::tempdir().unwrap();
    // The mirror's temporary root lives under TMPDIR = <tmp>/t/mirror; `../../..` from
    // it reaches <tmp>.
    let tmpdir = tmp.path().join("t/mirror");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let mut env = moto.env();
    env.push(("TMPDIR", tmpdir.to_str().unwrap().into()));
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("s3://{BUCKET}/p");
    let run = |extra: Vec<String>| {
        let mut c = bin();
        c.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(&url).args(extra);
        for (k, v) in &env_ref {
            c.env(k, v);
        }
        c
    };
    let r: Run = run(vec!["--run-at".into(), FIRST.into()]).output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);

    let sentinel = tmp.path().join("sentinel");
    std::fs::write(&sentinel, SENTINEL).unwrap();
    let escaped = tmp.path().join("escaped");
    let good: Value = serde_json::from_slice(&moto.get(&format!("p/_snapshots/{FIRST_ID}/_manifest.json"))).unwrap();
    let mut m = as_later(good);
    own_paths(&mut m);
    // Objects exist at the keys these paths map to, so a reader that followed them would
    // download (create, truncate, write) the local files they name.
    let evil = b"EVIL";
    let abs = sentinel.to_str().unwrap().to_string();
    m["tables"]["personnel"]["files"][0] = json!({"path": abs, "rows": 1, "bytes": 4, "sha256": "0".repeat(64)});
    moto.put(&format!("p/{}", abs.trim_start_matches('/')), evil);
    m["tables"]["controls"]["files"][0] =
        json!({"path": "../../../escaped", "rows": 1, "bytes": 4, "sha256": "0".repeat(64)});
    moto.put("p/%2E%2E/%2E%2E/%2E%2E/escaped", evil);
    moto.put("p/_snapshots/20990101T000000Z/_manifest.json", &serde_json::to_vec_pretty(&m).unwrap());
    let named = format!("{url}/_snapshots/20990101T000000Z/_manifest.json");

    for args in [
        vec!["verify", "--out", &url],
        vec!["verify", "--out", &url, "--snapshot", "all"],
        vec!["report", "--out", &url],
        vec!["diff", "--out", &url],
    ] {
        let r = cmd(&args, &env_ref).await;
        assert_eq!(std::fs::read_to_string(&sentinel).unwrap(), SENTINEL, "{args:?} truncated the sentinel");
        assert!(!escaped.exists(), "{args:?} created a file outside the mirror");
        assert_eq!(r.code, 65, "{args:?}: {}", all_text(&r));
        assert!(all_text(&r).contains(&named), "{args:?} names the manifest by URL: {}", all_text(&r));
        assert!(all_text(&r).contains("tables.controls.files[0].path"), "{args:?}: {}", all_text(&r));
    }
    let r: Run = run(vec!["--run-at".into(), "2026-04-02T00:00:00Z".into(), "--incremental".into()])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(r.code, 65, "{}", all_text(&r));
    assert!(r.summary()["message"].as_str().unwrap().contains(&named), "{}", r.stdout);

    assert_eq!(std::fs::read_to_string(&sentinel).unwrap(), SENTINEL, "the sentinel was not truncated");
    assert!(!escaped.exists(), "nothing was created outside the mirror");
    let leftovers: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().collect();
    assert!(leftovers.is_empty(), "mirror folders are removed: {leftovers:?}");
    sim.shutdown().await;
}

/// Rewrite every personnel file of the committed FIRST snapshot with `enriched_at` set to
/// `micros`, and its manifest entry to the new size and checksum (a consistent snapshot, as
/// one written by a machine whose clock was far ahead would be).
fn set_enriched_at(out: &Path, micros: i64) {
    let manifest_path = out.join(format!("_snapshots/{FIRST_ID}/_manifest.json"));
    let mut m = first_manifest(out);
    for f in m["tables"]["personnel"]["files"].as_array_mut().unwrap() {
        let path = out.join(f["path"].as_str().unwrap());
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap().build().unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let schema = batches[0].schema();
        let i = schema.index_of("enriched_at").unwrap();
        let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema.clone(), None).unwrap();
        for b in &batches {
            let mut cols = b.columns().to_vec();
            let t = TimestampMicrosecondArray::from(vec![micros; b.num_rows()]).with_timezone("UTC");
            assert_eq!(t.data_type(), cols[i].data_type());
            cols[i] = Arc::new(t);
            w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap()).unwrap();
        }
        w.close().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        f["bytes"] = bytes.len().into();
        f["sha256"] = hex::encode(Sha256::digest(&bytes)).into();
    }
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_enriched_at_in_the_future_is_stale_and_refetched() {
    let sim = start(sim_config(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = run_etl(&sim, tmp.path(), &["--run-at", FIRST]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ten_years = 10 * 365 * 86_400 * 1_000_000i64;
    set_enriched_at(tmp.path(), chrono::Utc::now().timestamp_micros() + ten_years);
    let r = cmd(&["verify", "--out", tmp.path().to_str().unwrap()], &[]).await;
    assert_eq!(r.code, 0, "the doctored snapshot is consistent: {}", all_text(&r));
    let r = run_etl(&sim, tmp.path(), &["--run-at", "2026-04-01T01:00:00Z", "--incremental", "--refresh-after", "30d"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let inc = &r.summary()["incremental"];
    assert!(inc["ignored_reason"].is_null(), "{inc}");
    assert_eq!((inc["stale"].as_u64(), inc["reused"].as_u64()), (Some(30), Some(0)), "{inc}");
}
