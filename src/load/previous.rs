//! The previous committed snapshot (the catalogue's latest of the workspace), as an
//! incremental run needs it: an index from person to (list fingerprint, when their child
//! data was fetched), and a streaming copy of the child rows (training, background checks,
//! assigned policies) of the people whose data is reused, as whole batches of each table's
//! declared columns.
//!
//! Trust is earned, not assumed: a previous snapshot of another workspace, dialect or API
//! host, one that fails verification against its manifest (missing file, wrong checksum or
//! row count, wrong schema), one written by an older version (its files lack columns
//! appended since, which reused rows would then lack too), or one written without
//! fingerprints is refused with a reason, and the caller falls back to a full run.
//!
//! Memory: the index is one sorted vector of 40 bytes per reusable person (id key,
//! fingerprint, timestamp; 40 MB for 1,000,000 people, allocated once at its final size), and
//! the set of people this run reuses is one bit each on top of it. A hash map of the same
//! entries would take ~100 MB at 1,000,000 people (padding to 48 bytes, power-of-two
//! buckets) and twice that while it grows. Child rows are streamed one batch at a time,
//! never held.

use super::batch::{row_schema, TableRow, POLICIES_NOT_AVAILABLE};
use super::catalogue::Catalogue;
use super::layout::Table;
use super::manifest::Manifest;
use super::verify::verify_snapshot_report;
use super::writer::TableWriter;
use crate::error::{EtlError, FailureKind};
use crate::record::{id_key, BackgroundCheck, PolicyAssignment, Training};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::path::{Path, PathBuf};

/// What the previous snapshot knows about one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousPerson {
    pub fingerprint: u128,
    pub enriched_at: DateTime<Utc>,
}

pub struct PreviousSnapshot {
    pub manifest: Manifest,
    root: PathBuf,
    /// Sorted by `key`, one entry per id.
    people: Vec<Entry>,
}

/// One reusable person: 40 bytes (`u128` fields would align and pad it to 48).
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: [u64; 2],
    fingerprint: [u64; 2],
    enriched_at_micros: i64,
}

fn halves(x: u128) -> [u64; 2] {
    [(x >> 64) as u64, x as u64]
}

fn whole(h: [u64; 2]) -> u128 {
    (u128::from(h[0]) << 64) | u128::from(h[1])
}

/// The people of the previous snapshot a run reused, one bit per index entry.
pub struct ReuseMarks {
    bits: Vec<u64>,
}

/// Why a previous snapshot cannot be used.
pub type Refusal = String;

/// Visit the batches of one table's files, one batch in memory at a time.
fn for_each_batch(
    files: &[PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    for path in files {
        for b in open_reader(path, columns)? {
            let b = b.map_err(|e| format!("{} is unreadable: {e}", path.display()))?;
            f(&b)?;
        }
    }
    Ok(())
}

fn open_reader(
    path: &Path,
    columns: &[&str],
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, Refusal> {
    let bad = |e: &dyn std::fmt::Display| format!("{} is unreadable: {e}", path.display());
    let f = std::fs::File::open(path).map_err(|e| bad(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| bad(&e))?;
    for c in columns {
        if builder.schema().field_with_name(c).is_err() {
            return Err(format!("{} has no column {c} (written by an older version of drata-etl)", path.display()));
        }
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    builder.with_projection(mask).with_batch_size(8192).build().map_err(|e| bad(&e))
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
    b.column_by_name(name).expect("projected column").as_string::<i32>()
}

fn micros_to_time(m: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(m)
}

fn opt_time(b: &RecordBatch, name: &str, i: usize) -> Option<DateTime<Utc>> {
    let c = b.column_by_name(name)?.as_primitive::<TimestampMicrosecondType>();
    (!c.is_null(i)).then(|| micros_to_time(c.value(i))).flatten()
}

impl PreviousSnapshot {
    /// The latest committed snapshot of `workspace` (as the catalogue decides), if it can be
    /// trusted for reuse.
    /// `Ok(Ok(None))`: there is none yet. `Ok(Err)`: there is one, and why it is refused
    /// (the run falls back to fetching everyone). `Err`: a manifest under the root fails
    /// validation (65), which a fallback must not hide.
    pub fn open_latest(
        root: &Path,
        workspace: Option<&str>,
        dialect: &str,
        base_url: &str,
    ) -> Result<Result<Option<PreviousSnapshot>, Refusal>, EtlError> {
        let catalogue = match Catalogue::trusted(root, &root.display().to_string()) {
            Ok(c) => c,
            Err(e) if e.kind == FailureKind::DataInvalid => return Err(e),
            Err(e) => return Ok(Err(format!("cannot list snapshots: {e}"))),
        };
        let Some(latest) = catalogue.latest(workspace) else {
            return Ok(Ok(None));
        };
        Ok(Self::open(root, latest.manifest.clone(), dialect, base_url))
    }

    fn open(root: &Path, m: Manifest, dialect: &str, base_url: &str) -> Result<Option<PreviousSnapshot>, Refusal> {
        if m.api_dialect != dialect {
            return Err(format!(
                "snapshot {} was taken with the {} dialect, not {dialect}",
                m.snapshot_id, m.api_dialect
            ));
        }
        if m.base_url != base_url {
            return Err(format!("snapshot {} was taken from {}, not {base_url}", m.snapshot_id, m.base_url));
        }
        let verified = verify_snapshot_report(root, &m);
        let problems = verified.problems;
        if let Some(p) = problems.first() {
            return Err(format!(
                "snapshot {} failed verification ({} problem(s), first: {}: {})",
                m.snapshot_id,
                problems.len(),
                p.path,
                p.what
            ));
        }
        // Reused rows would lack the columns appended since (null where the API has values).
        if !verified.older_tables.is_empty() {
            return Err(format!(
                "snapshot {} was written by an older version of drata-etl (its {} files lack columns added since); fetching everyone once writes them",
                m.snapshot_id,
                verified.older_tables.join(", ")
            ));
        }
        let mut cols =
            vec!["id", "list_fingerprint", "enriched_at", "training_fetch_status", "background_check_fetch_status"];
        // Snapshots written before policies were fetched have neither the table nor this
        // column; whether such a snapshot may stand in for a dialect that has policies is
        // the run's call (it knows the dialect).
        let policies = m.tables.contains_key(Table::PersonnelPolicies.name());
        if policies {
            cols.push("policies_fetch_status");
        }
        let rows = m.tables.get("personnel").map_or(0, |t| t.rows);
        let mut people = Vec::with_capacity(usize::try_from(rows).unwrap_or(0));
        let files: Vec<PathBuf> =
            m.tables.get("personnel").map(|t| t.files.iter().map(|f| root.join(&f.path)).collect()).unwrap_or_default();
        for_each_batch(&files, &cols, |b| {
            let (ids, fps, t, c) = (
                strs(b, "id"),
                strs(b, "list_fingerprint"),
                strs(b, "training_fetch_status"),
                strs(b, "background_check_fetch_status"),
            );
            let p = policies.then(|| strs(b, "policies_fetch_status"));
            for i in 0..b.num_rows() {
                // Only complete child data is worth reusing (`not_available`: the dialect
                // has no policies to fetch, which is complete too).
                if t.value(i) != "ok" || c.value(i) != "ok" {
                    continue;
                }
                if p.is_some_and(|p| !matches!(p.value(i), "ok" | POLICIES_NOT_AVAILABLE)) {
                    continue;
                }
                let (Some(enriched_at), Ok(fingerprint)) =
                    (opt_time(b, "enriched_at", i), u128::from_str_radix(fps.value(i), 16))
                else {
                    continue;
                };
                people.push(Entry {
                    key: halves(id_key(ids.value(i))),
                    fingerprint: halves(fingerprint),
                    enriched_at_micros: enriched_at.timestamp_micros(),
                });
            }
            Ok(())
        })?;
        people.sort_unstable_by_key(|e| e.key);
        people.dedup_by_key(|e| e.key);
        people.shrink_to_fit();
        Ok(Some(PreviousSnapshot { manifest: m, root: root.to_path_buf(), people }))
    }

    fn position(&self, key: u128) -> Option<usize> {
        self.people.binary_search_by_key(&halves(key), |e| e.key).ok()
    }

    pub fn lookup(&self, id: &str) -> Option<PreviousPerson> {
        let e = self.people[self.position(id_key(id))?];
        Some(PreviousPerson { fingerprint: whole(e.fingerprint), enriched_at: micros_to_time(e.enriched_at_micros)? })
    }

    /// An empty set of reused people, for `mark_reused` and `copy_children`.
    pub fn reuse_marks(&self) -> ReuseMarks {
        ReuseMarks { bits: vec![0; self.people.len().div_ceil(64)] }
    }

    /// Record that this run reuses the child rows of `id` (ignored if `id` is not reusable).
    pub fn mark_reused(&self, marks: &mut ReuseMarks, id: &str) {
        if let Some(i) = self.position(id_key(id)) {
            marks.bits[i / 64] |= 1 << (i % 64);
        }
    }

    fn is_reused(&self, marks: &ReuseMarks, person_id: &str) -> bool {
        self.position(id_key(person_id)).is_some_and(|i| marks.bits[i / 64] & (1 << (i % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// Copy the child rows of the `reused` people into this run's writers, one batch at a
    /// time. Returns (training rows, background-check rows, policy rows) copied; a
    /// snapshot without a `personnel_policies` table has no policy rows to copy.
    pub fn copy_children(
        &self,
        reused: &ReuseMarks,
        training: &mut TableWriter<Training>,
        checks: &mut TableWriter<BackgroundCheck>,
        policies: &mut TableWriter<PolicyAssignment>,
    ) -> Result<(u64, u64, u64), String> {
        if reused.bits.iter().all(|w| *w == 0) {
            return Ok((0, 0, 0));
        }
        Ok((self.copy_table(reused, training)?, self.copy_table(reused, checks)?, self.copy_table(reused, policies)?))
    }

    /// Whether the snapshot has `table` (tables added by later versions are absent from
    /// older snapshots).
    pub fn has_table(&self, table: Table) -> bool {
        self.manifest.tables.contains_key(table.name())
    }

    /// Copy the rows of `R`'s table whose `personnel_id` is reused. The columns are the
    /// table's own declaration (`row_schema`), read back by name and handed to the writer
    /// whole, so no field is listed here and no value is decoded: a hostile value is copied
    /// as it is or refused, never panicked on.
    fn copy_table<R: TableRow>(&self, reused: &ReuseMarks, writer: &mut TableWriter<R>) -> Result<u64, Refusal> {
        let table = R::TABLE.name();
        let schema = row_schema::<R>();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut copied = 0;
        for_each_batch(&self.files(table), &names, |b| {
            let differs = |e: &dyn std::fmt::Display| {
                format!("a {table} file of the previous snapshot differs from the table's schema: {e}")
            };
            let columns = names.iter().map(|n| b.column_by_name(n).expect("projected column").clone()).collect();
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| differs(&e))?;
            let ids = batch.column_by_name("personnel_id").and_then(|c| c.as_string_opt::<i32>());
            let ids = ids.ok_or_else(|| differs(&"no personnel_id text column"))?;
            let keep: BooleanArray =
                ids.iter().map(|id| Some(id.is_some_and(|id| self.is_reused(reused, id)))).collect();
            let kept = filter_record_batch(&batch, &keep).map_err(|e| differs(&e))?;
            if kept.num_rows() > 0 {
                writer.push_batch(&kept).map_err(|e| format!("writing reused rows failed: {e}"))?;
                copied += kept.num_rows() as u64;
            }
            Ok(())
        })?;
        Ok(copied)
    }

    fn files(&self, table: &str) -> Vec<PathBuf> {
        self.manifest
            .tables
            .get(table)
            .map(|t| t.files.iter().map(|f| self.root.join(&f.path)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
