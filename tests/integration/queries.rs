//! Support: run the DuckDB queries of `scripts/queries/` (through `run.py`) over an output
//! root, so tests can cross-check the tool's answers against independent SQL.

use crate::moto::python;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// `scripts/queries/run.py OUT --json`: query name -> rows (as JSON arrays).
pub fn sql(out: &Path, extra: &[&str]) -> BTreeMap<String, Vec<Vec<Value>>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/queries/run.py");
    let o = std::process::Command::new(python())
        .arg(&script)
        .arg(out)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} with {}: {e}", script.display(), python().display()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "scripts/queries failed ({}; run scripts/test.sh so .venv has duckdb):\n{}\n{stdout}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let rows = v["rows"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect();
            (v["query"].as_str().unwrap().to_string(), rows)
        })
        .collect()
}
