//! Re-read a committed snapshot and check it against its manifest: every file present,
//! same size, same sha256, same row count, and the table's expected schema. A file whose
//! columns are a leading prefix of today's contract (written by an older version, before
//! columns were appended) is intact, and reported as older rather than as a problem.
//!
//! Used by `drata-etl verify` and by the crash tests; reads files only, never writes.

use super::batch::{schema_fit, SchemaFit};
use super::layout::Table;
use super::manifest::Manifest;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// One thing wrong with a committed snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub what: String,
}

fn sha256_of(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n_total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((hex::encode(h.finalize()), n_total))
}

/// What verifying one snapshot found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Empty when the snapshot is intact.
    pub problems: Vec<Problem>,
    /// Tables whose files hold a leading prefix of today's columns (an older version wrote
    /// them): readable, but lacking the columns appended since.
    pub older_tables: Vec<String>,
}

/// Check every file the manifest lists. An empty result means the snapshot is intact.
pub fn verify_snapshot(root: &Path, m: &Manifest) -> Vec<Problem> {
    verify_snapshot_report(root, m).problems
}

/// `verify_snapshot`, also saying which tables an older version wrote.
pub fn verify_snapshot_report(root: &Path, m: &Manifest) -> Verified {
    let mut problems = Vec::new();
    let mut older_tables = Vec::new();
    for table in Table::ALL {
        // Snapshots committed before a derived table existed lack it; that is not damage.
        if !m.tables.contains_key(table.name()) && !table.may_be_absent() {
            problems.push(Problem { path: table.name().into(), what: "table missing from the manifest".into() });
        }
    }
    for (name, entry) in &m.tables {
        let table = Table::from_name(name);
        let mut rows_total: u64 = 0;
        for f in &entry.files {
            let path = root.join(&f.path);
            let problem = |what: String| Problem { path: f.path.clone(), what };
            let (sha, bytes) = match sha256_of(&path) {
                Ok(x) => x,
                Err(e) => {
                    problems.push(problem(format!("cannot read: {e}")));
                    continue;
                }
            };
            if bytes != f.bytes {
                problems.push(problem(format!("size {bytes} bytes, manifest says {}", f.bytes)));
            }
            if sha != f.sha256 {
                problems.push(problem("sha256 differs from the manifest".into()));
                continue;
            }
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(problem(format!("cannot open: {e}")));
                    continue;
                }
            };
            match ParquetRecordBatchReaderBuilder::try_new(file) {
                Ok(b) => {
                    let rows = u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0);
                    rows_total = rows_total.saturating_add(rows);
                    if rows != f.rows {
                        problems.push(problem(format!("{rows} rows, manifest says {}", f.rows)));
                    }
                    match table.map(|t| schema_fit(t, b.schema().fields())) {
                        Some(SchemaFit::Differs) => {
                            problems.push(problem("schema differs from the table's contract (schemas/)".into()))
                        }
                        Some(SchemaFit::Older { .. }) if !older_tables.contains(name) => {
                            older_tables.push(name.clone())
                        }
                        _ => {}
                    }
                }
                Err(e) => problems.push(problem(format!("not a readable Parquet file: {e}"))),
            }
        }
        if rows_total != entry.rows && problems.is_empty() {
            problems.push(Problem {
                path: name.clone(),
                what: format!("{rows_total} rows in files, manifest says {}", entry.rows),
            });
        }
    }
    Verified { problems, older_tables }
}
