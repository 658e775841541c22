//! moto's S3 server for the object-store tests: started on a free loopback port with one
//! bucket (`BUCKET`), killed on drop. Python: `$DRATA_ETL_PYTHON`, else `<repo>/.venv/bin/python`
//! (`scripts/test.sh` installs moto[s3,server] there).

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
