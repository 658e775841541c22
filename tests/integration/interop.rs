//! Interoperability: the Parquet the real binary writes must read back in the tools analysts
//! use. Runs `drata-etl demo --personnel 300` into a temporary directory, then
//! `scripts/interop/check_output.py` on it, which reads every table with DuckDB and pyarrow
//! (Hive partitioning) and checks row counts against the manifest, the partition columns,
//! column types, id uniqueness, and personnel_id references.
//!
//! Python: `$DRATA_ETL_PYTHON` if set, else `<repo>/.venv/bin/python` if present, else
//! `python3`. Without duckdb/pyarrow this test fails (it does not skip): run `scripts/test.sh`,
//! which installs them into `.venv`.

use std::path::{Path, PathBuf};
use std::process::Command;

const HINT: &str = "run `scripts/test.sh` (it creates .venv with the pinned duckdb and pyarrow from \
                    scripts/python-requirements.txt), or set DRATA_ETL_PYTHON to an interpreter that has them";

fn python(repo: &Path) -> (PathBuf, &'static str) {
    match std::env::var_os("DRATA_ETL_PYTHON") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "$DRATA_ETL_PYTHON"),
        _ => {
            let venv = repo.join(".venv/bin/python");
            if venv.exists() {
                (venv, "the repo's .venv")
            } else {
                (PathBuf::from("python3"), "python3 on PATH (no .venv, no $DRATA_ETL_PYTHON)")
            }
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn demo_output_reads_back_in_duckdb_and_pyarrow() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checker = repo.join("scripts/interop/check_output.py");
    assert!(checker.is_file(), "{} is missing", checker.display());
    let (py, from) = python(repo);

    // Fail fast, and clearly, when the interpreter cannot do the check at all.
    let probe = Command::new(&py)
        .args(["-c", "import duckdb, pyarrow, pyarrow.dataset"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run Python {} (from {from}): {e}; {HINT}", py.display()));
    assert!(
        probe.status.success(),
        "Python {} (from {from}) cannot import duckdb/pyarrow: {}\n{HINT}",
        py.display(),
        text(&probe.stderr).trim()
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path();
    // A clean environment: no DRATA_ETL_* tuning from the developer's shell.
    let demo = Command::new(env!("CARGO_BIN_EXE_drata-etl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DRATA_ETL_LOG", "warn")
        .args(["demo", "--personnel", "300", "--out"])
        .arg(out)
        .output()
        .expect("drata-etl binary runs");
    assert!(
        demo.status.success(),
        "drata-etl demo failed ({}):\nstdout:\n{}\nstderr:\n{}",
        demo.status,
        text(&demo.stdout),
        text(&demo.stderr)
    );

    let check = Command::new(&py)
        .arg(&checker)
        .arg(out)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run Python {} (from {from}): {e}; {HINT}", py.display()));
    let report = text(&check.stdout);
    println!("{report}");
    match check.status.code() {
        Some(0) => {}
        Some(3) => panic!("{} lacks duckdb/pyarrow: {}\n{HINT}", py.display(), text(&check.stderr).trim()),
        _ => panic!("interop check of the demo output failed ({}):\n{report}\n{}", check.status, text(&check.stderr)),
    }
    assert!(report.contains("interop check passed"), "checker exited 0 without its closing line:\n{report}");
}
