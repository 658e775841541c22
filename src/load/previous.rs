//! The previous committed snapshot (the catalogue's latest of the workspace), as an
//! incremental run needs it: an index from person to (list fingerprint, when their child
//! data was fetched), and a streaming copy of the child rows of the people whose data is
//! reused, as whole batches of each table's declared columns.
//!
//! Trust is earned, not assumed: a previous snapshot of another workspace, dialect or API
//! host, one that fails verification against its manifest (missing file, wrong checksum or
//! row count, wrong schema), or one written without fingerprints is refused with a reason,
//! and the caller falls back to a full run.
//!
//! Memory: the index is one sorted vector of 40 bytes per reusable person (id key,
//! fingerprint, timestamp; 40 MB for 1,000,000 people, allocated once at its final size), and
//! the set of people this run reuses is one bit each on top of it. A hash map of the same
//! entries would take ~100 MB at 1,000,000 people (padding to 48 bytes, power-of-two
//! buckets) and twice that while it grows. Child rows are streamed one batch at a time,
//! never held.

use super::batch::{row_schema, TableRow};
use super::catalogue::Catalogue;
use super::manifest::Manifest;
use super::verify::verify_snapshot;
use super::writer::TableWriter;
use crate::error::{EtlError, FailureKind};
use crate::record::{id_key, BackgroundCheck, Training};
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
        let problems = verify_snapshot(root, &m);
        if let Some(p) = problems.first() {
            return Err(format!(
                "snapshot {} failed verification ({} problem(s), first: {}: {})",
                m.snapshot_id,
                problems.len(),
                p.path,
                p.what
            ));
        }
        let cols = ["id", "list_fingerprint", "enriched_at", "training_fetch_status", "background_check_fetch_status"];
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
            for i in 0..b.num_rows() {
                // Only complete child data is worth reusing.
                if t.value(i) != "ok" || c.value(i) != "ok" {
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
    /// time. Returns (training rows, background-check rows) copied.
    pub fn copy_children(
        &self,
        reused: &ReuseMarks,
        training: &mut TableWriter<Training>,
        checks: &mut TableWriter<BackgroundCheck>,
    ) -> Result<(u64, u64), String> {
        if reused.bits.iter().all(|w| *w == 0) {
            return Ok((0, 0));
        }
        Ok((self.copy_table(reused, training)?, self.copy_table(reused, checks)?))
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
mod tests {
    use super::*;
    use crate::load::batch::schema_for;
    use crate::load::commit::{manifest_path, OutputRoot};
    use crate::load::layout::{part_file_name, partition_dir, SnapshotKey, Table};
    use crate::load::manifest::{FileEntry, TableEntry};
    use crate::load::writer::WriterOptions;
    use arrow::array::TimestampMicrosecondArray;
    use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int32Array, ListBuilder, StringArray, StringBuilder};
    use arrow::datatypes::{DataType, TimeUnit};
    use parquet::arrow::ArrowWriter;
    use sha2::{Digest, Sha256};
    use std::sync::Arc;

    const IDS: [&str; 4] = ["a", "b", "c", "d"];

    /// One column of four rows at the extremes of its type (nulls where the contract allows
    /// them), with the key columns an incremental run needs set so every row is reusable.
    fn extreme_column(name: &str, t: &DataType, nullable: bool) -> ArrayRef {
        let null0 = |i: usize| nullable && i == 0;
        let far_future = 7_258_118_400_000_000; // 2200-01-01: fixed, so a copy compares equal
        match (name, t) {
            ("id" | "personnel_id", _) => Arc::new(StringArray::from(IDS.to_vec())),
            ("training_fetch_status" | "background_check_fetch_status", _) => {
                Arc::new(StringArray::from(vec!["ok"; 4]))
            }
            ("list_fingerprint", _) => {
                let f = "f".repeat(32);
                Arc::new(StringArray::from(vec!["0", f.as_str(), "not hex", "\u{10FFFF}"]))
            }
            (_, DataType::Utf8) => {
                let big = "x".repeat(100_000);
                let v = ["", "\u{0}\u{202e}é\u{1F600}", big.as_str(), "ok"];
                Arc::new(StringArray::from_iter((0..4).map(|i| (!null0(i)).then_some(v[i]))))
            }
            (_, DataType::Int32) => Arc::new(Int32Array::from(vec![i32::MIN, i32::MAX, 0, -1])),
            (_, DataType::Date32) => {
                let v = [i32::MIN, i32::MAX, -1, 2_932_897];
                Arc::new(Date32Array::from_iter((0..4).map(|i| (!null0(i)).then_some(v[i]))))
            }
            (_, DataType::Timestamp(TimeUnit::Microsecond, tz)) => {
                let v = [i64::MIN, i64::MAX, far_future, -1];
                Arc::new(
                    TimestampMicrosecondArray::from_iter((0..4).map(|i| {
                        if nullable && i == 0 {
                            None
                        } else {
                            Some(v[i])
                        }
                    }))
                    .with_timezone_opt(tz.clone()),
                )
            }
            (_, DataType::Boolean) => {
                Arc::new(BooleanArray::from_iter((0..4).map(|i| (!null0(i)).then_some(i % 2 == 0))))
            }
            (_, DataType::List(_)) => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for i in 0..4 {
                    if null0(i) {
                        b.append_null();
                    } else {
                        b.values().append_value("\u{1F600}".repeat(i));
                        b.append(true);
                    }
                }
                Arc::new(b.finish())
            }
            other => panic!("no extreme values for column {name} of type {other:?}: add them here"),
        }
    }

    /// Every table an incremental run reads back, written with extreme values, and a
    /// manifest that matches the files (so verification passes and the values are read).
    fn extreme_snapshot(root: &Path) -> SnapshotKey {
        let key = SnapshotKey::from_run_at(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc());
        let mut tables = std::collections::BTreeMap::new();
        for table in [Table::Personnel, Table::PersonnelTraining, Table::PersonnelBackgroundChecks, Table::Controls] {
            let schema = schema_for(table);
            let cols: Vec<ArrayRef> =
                schema.fields().iter().map(|f| extreme_column(f.name(), f.data_type(), f.is_nullable())).collect();
            let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
            let rel = partition_dir(table, None, &key.date.to_string(), &key.id).join("part-00000.parquet");
            std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
            let mut w = ArrowWriter::try_new(std::fs::File::create(root.join(&rel)).unwrap(), schema, None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            let file = FileEntry {
                path: rel.to_string_lossy().replace('\\', "/"),
                rows: 4,
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
            };
            tables.insert(table.name().to_string(), TableEntry { rows: 4, files: vec![file] });
        }
        let m = Manifest {
            format_version: 1,
            run_id: "r1".into(),
            snapshot_id: key.id.clone(),
            snapshot_date: key.date.to_string(),
            workspace: None,
            run_at: key.run_at_rfc3339(),
            started_at: String::new(),
            finished_at: String::new(),
            tool_version: String::new(),
            api_dialect: "guide".into(),
            base_url: "http://x".into(),
            tables,
            listing: Default::default(),
            enrichment: Default::default(),
            incremental: None,
            api: Default::default(),
        };
        let p = manifest_path(root, None, &key.id);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_vec(&m).unwrap()).unwrap();
        key
    }

    #[test]
    fn extreme_values_of_every_column_type_read_back_without_panicking() {
        let tmp = tempfile::tempdir().unwrap();
        extreme_snapshot(tmp.path());
        let prev = PreviousSnapshot::open_latest(tmp.path(), None, "guide", "http://x").unwrap().unwrap().unwrap();
        // No row has both a hex fingerprint and a representable enriched_at.
        assert!(prev.is_empty(), "no row qualifies: {}", prev.len());
        for id in IDS {
            assert_eq!(prev.lookup(id), None);
        }
        // Nobody is reusable, so nothing is copied even when every id is marked.
        let (copied, written) = copy_everyone(&prev);
        assert_eq!(copied, (0, 0));
        assert!(written.iter().all(|b| b.num_rows() == 0));
        // The one value decoded on reading back, on every extreme value.
        let schema = schema_for(Table::PersonnelTraining);
        let cols = schema.fields().iter().map(|f| extreme_column(f.name(), f.data_type(), f.is_nullable())).collect();
        let b = RecordBatch::try_new(schema, cols).unwrap();
        for i in 0..4 {
            let _ = opt_time(&b, "enriched_at", i);
        }
        assert_eq!(opt_time(&b, "enriched_at", 1), None, "i64::MAX microseconds is past chrono's range");
        assert!(opt_time(&b, "enriched_at", 3).is_some());
    }

    #[test]
    fn a_reusable_person_with_extreme_child_rows_is_copied_without_panicking() {
        let tmp = tempfile::tempdir().unwrap();
        extreme_snapshot(tmp.path());
        // Make every person reusable, so every extreme child row is read and written again.
        let mut prev = PreviousSnapshot::open_latest(tmp.path(), None, "guide", "http://x").unwrap().unwrap().unwrap();
        prev.people = IDS
            .iter()
            .map(|id| Entry { key: halves(id_key(id)), fingerprint: [0; 2], enriched_at_micros: 0 })
            .collect();
        prev.people.sort_unstable_by_key(|e| e.key);
        let (copied, written) = copy_everyone(&prev);
        assert_eq!(copied, (4, 4));
        // Every value arrives as it was; only snapshot_at is this run's.
        for (table, b) in [Table::PersonnelTraining, Table::PersonnelBackgroundChecks].into_iter().zip(&written) {
            assert_eq!(b.num_rows(), 4, "{table:?}");
            for f in schema_for(table).fields().iter().filter(|f| f.name() != "snapshot_at") {
                let want = extreme_column(f.name(), f.data_type(), f.is_nullable());
                assert_eq!(b.column_by_name(f.name()).unwrap().to_data(), want.to_data(), "{table:?}.{}", f.name());
            }
        }
    }

    /// Mark every person of `prev` reused and copy their child rows into a new staging
    /// folder: the rows copied, and the training and background-check rows written.
    fn copy_everyone(prev: &PreviousSnapshot) -> ((u64, u64), Vec<RecordBatch>) {
        let mut marks = prev.reuse_marks();
        for id in IDS {
            prev.mark_reused(&mut marks, id);
        }
        let out = tempfile::tempdir().unwrap();
        let root = OutputRoot::open(out.path(), None).unwrap();
        let key = SnapshotKey::from_run_at(DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap().to_utc());
        let staging = root.begin(&key, "r2").unwrap();
        let mut t = staging.writer::<Training>(WriterOptions::default()).unwrap();
        let mut c = staging.writer::<BackgroundCheck>(WriterOptions::default()).unwrap();
        let copied = prev.copy_children(&marks, &mut t, &mut c).unwrap();
        let files = [t.finish().unwrap(), c.finish().unwrap()];
        let written =
            [Table::PersonnelTraining, Table::PersonnelBackgroundChecks].iter().zip(files).map(|(table, files)| {
                let batches: Vec<RecordBatch> = (0..files.len())
                    .flat_map(|i| {
                        let f = std::fs::File::open(staging.dir().join(table.name()).join(part_file_name(i))).unwrap();
                        ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(Result::unwrap)
                    })
                    .collect();
                arrow::compute::concat_batches(&schema_for(*table), &batches).unwrap()
            });
        (copied, written.collect())
    }
}
