//! moto's S3 server for the object-store tests: started on a free loopback port with one
//! bucket (`BUCKET`), killed on drop. Python: `$DRATA_ETL_PYTHON`, else `<repo>/.venv/bin/python`
//! (`scripts/test.sh` installs moto[s3,server] there).

use crate::common::{bin, Run};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const BUCKET: &str = "snapshots";
pub const HINT: &str = "run `scripts/test.sh` (it installs moto[s3,server] and pyarrow into .venv from scripts/python-requirements.txt), or set DRATA_ETL_PYTHON";

/// The interpreter that has moto (and pyarrow, boto3).
pub fn python() -> PathBuf {
    match std::env::var_os("DRATA_ETL_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    }
}

/// A running moto server; dropping it kills the process.
pub struct MotoServer {
    _child: tokio::process::Child,
    pub endpoint: String,
}

/// Start moto and create `BUCKET`. Multipart parts may be as small as 1 KiB, so a small test
/// file can still go up in many parts (the binary needs DRATA_ETL_TEST_SMALL_UPLOAD_PARTS).
pub async fn start() -> MotoServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let py = python();
    let child = tokio::process::Command::new(&py)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .env("S3_UPLOAD_PART_MIN_SIZE", "1024")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}; {HINT}", py.display()));
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(format!("{endpoint}/")).send().await.is_ok_and(|r| r.status().is_success()) {
            let r = http.put(format!("{endpoint}/{BUCKET}")).send().await.expect("create bucket");
            assert!(r.status().is_success(), "creating the bucket failed: {}", r.status());
            return MotoServer { _child: child, endpoint };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto's S3 server did not come up on {endpoint} within 30 s; {HINT}");
}

/// Test secret of the store; a run's output must never show it.
pub const SECRET: &str = "testing-secret";

impl MotoServer {
    /// The binary with S3 credentials and this endpoint in its environment.
    pub fn cmd(&self) -> tokio::process::Command {
        let mut c = bin();
        c.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("DRATA_ETL_S3_ENDPOINT", &self.endpoint)
            .env("DRATA_ETL_LOG", "info")
            // moto takes 1 KiB parts (S3_UPLOAD_PART_MIN_SIZE above), so small files exercise multipart.
            .env("DRATA_ETL_TEST_SMALL_UPLOAD_PARTS", "1");
        c
    }

    /// The binary with `args`; fails the test if its output shows the store secret.
    pub async fn run(&self, args: &[&str]) -> Run {
        let r: Run = self.cmd().args(args).output().await.expect("binary runs").into();
        for text in [&r.stdout, &r.stderr] {
            assert!(!text.contains(SECRET), "the store secret leaked: {text}");
        }
        r
    }

    /// Every key under the bucket (relative to it), sorted.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let body = reqwest::get(format!("{}/{BUCKET}?list-type=2&prefix={prefix}", self.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut keys: Vec<String> =
            body.split("<Key>").skip(1).map(|s| s.split("</Key>").next().unwrap().replace("&amp;", "&")).collect();
        keys.sort();
        keys
    }
    /// Delete one object with a signed request (boto3), as an operator clearing a dead run's
    /// lock would.
    pub fn delete(&self, key: &str) {
        let code = format!(
            "import boto3, sys; boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing-secret', region_name='us-east-1').delete_object(Bucket='{BUCKET}', Key=sys.argv[1])",
            self.endpoint
        );
        let out = std::process::Command::new(python()).args(["-c", &code, key]).output().expect("python runs");
        assert!(out.status.success(), "delete {key}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
