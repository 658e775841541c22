//! Unit tests of `load::previous`, kept beside it so the module reads as code first.

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
        ("training_fetch_status" | "background_check_fetch_status" | "policies_fetch_status", DataType::Utf8) => {
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
                TimestampMicrosecondArray::from_iter((0..4).map(
                    |i| {
                        if nullable && i == 0 {
                            None
                        } else {
                            Some(v[i])
                        }
                    },
                ))
                .with_timezone_opt(tz.clone()),
            )
        }
        (_, DataType::Boolean) => Arc::new(BooleanArray::from_iter((0..4).map(|i| (!null0(i)).then_some(i % 2 == 0)))),
        ("documents", DataType::List(_)) => {
            // Built by the table's own declaration: a null list, an empty one, and documents
            // with extreme text, dates and times.
            let big = "x".repeat(100_000);
            let doc = |s: &str| crate::record::TrainingDocument {
                id: Some(s.to_string()),
                name: Some(big.clone()),
                renewal_date: chrono::NaiveDate::from_ymd_opt(262_142, 12, 31),
                created_at: DateTime::from_timestamp_micros(far_future),
                extra: Some("\u{0}\u{202e}".into()),
                ..Default::default()
            };
            let docs = [None, Some(vec![]), Some(vec![doc("1"), doc("")]), Some(vec![doc("\u{1F600}")])];
            let rows: Vec<Training> = docs
                .into_iter()
                .enumerate()
                .map(|(i, d)| Training {
                    documents: if null0(i) { None } else { d.or(Some(vec![])) },
                    ..Default::default()
                })
                .collect();
            let cols = <Training as TableRow>::columns(&rows);
            let at = row_schema::<Training>().index_of("documents").unwrap();
            cols[at].clone()
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
    extreme_snapshot_with(root, |s| s)
}

/// `extreme_snapshot` with each table's schema passed through `shape` first (to write files
/// as another version would have).
fn extreme_snapshot_with(
    root: &Path,
    shape: impl Fn(Arc<arrow::datatypes::Schema>) -> Arc<arrow::datatypes::Schema>,
) -> SnapshotKey {
    let key = SnapshotKey::from_run_at(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc());
    let mut tables = std::collections::BTreeMap::new();
    for table in [
        Table::Personnel,
        Table::PersonnelTraining,
        Table::PersonnelBackgroundChecks,
        Table::Controls,
        Table::PersonnelPolicies,
    ] {
        let schema = shape(schema_for(table));
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
    assert_eq!(copied, (0, 0, 0));
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
    prev.people =
        IDS.iter().map(|id| Entry { key: halves(id_key(id)), fingerprint: [0; 2], enriched_at_micros: 0 }).collect();
    prev.people.sort_unstable_by_key(|e| e.key);
    let (copied, written) = copy_everyone(&prev);
    assert_eq!(copied, (4, 4, 4));
    // Every value arrives as it was; only snapshot_at is this run's.
    for (table, b) in CHILD_TABLES.into_iter().zip(&written) {
        assert_eq!(b.num_rows(), 4, "{table:?}");
        for f in schema_for(table).fields().iter().filter(|f| f.name() != "snapshot_at") {
            let want = extreme_column(f.name(), f.data_type(), f.is_nullable());
            assert_eq!(b.column_by_name(f.name()).unwrap().to_data(), want.to_data(), "{table:?}.{}", f.name());
        }
    }
}

const CHILD_TABLES: [Table; 3] = [Table::PersonnelTraining, Table::PersonnelBackgroundChecks, Table::PersonnelPolicies];

/// Mark every person of `prev` reused and copy their child rows into a new staging
/// folder: the rows copied, and the training, background-check and policy rows written.
fn copy_everyone(prev: &PreviousSnapshot) -> ((u64, u64, u64), Vec<RecordBatch>) {
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
    let mut p = staging.writer::<PolicyAssignment>(WriterOptions::default()).unwrap();
    let copied = prev.copy_children(&marks, &mut t, &mut c, &mut p).unwrap();
    let files = [t.finish().unwrap(), c.finish().unwrap(), p.finish().unwrap()];
    let written = CHILD_TABLES.iter().zip(files).map(|(table, files)| {
        let batches: Vec<RecordBatch> = (0..files.len())
            .flat_map(|i| {
                let f = std::fs::File::open(staging.dir().join(table.name()).join(part_file_name(i, None))).unwrap();
                ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(Result::unwrap)
            })
            .collect();
        arrow::compute::concat_batches(&schema_for(*table), &batches).unwrap()
    });
    (copied, written.collect())
}

/// The columns a version before the appended ones wrote: up to and including `snapshot_at`.
fn first_release(s: Arc<arrow::datatypes::Schema>) -> Arc<arrow::datatypes::Schema> {
    let at = s.index_of("snapshot_at").unwrap();
    Arc::new(arrow::datatypes::Schema::new(s.fields()[..=at].to_vec()))
}

#[test]
fn a_snapshot_written_by_an_older_version_verifies_but_is_not_reused() {
    use crate::load::verify::verify_snapshot_report;
    let tmp = tempfile::tempdir().unwrap();
    extreme_snapshot_with(tmp.path(), first_release);
    let m = Catalogue::trusted(tmp.path(), "t").unwrap().latest(None).unwrap().manifest.clone();
    let v = verify_snapshot_report(tmp.path(), &m);
    assert_eq!(v.problems, vec![], "an older prefix schema is intact");
    let mut older = v.older_tables.clone();
    older.sort();
    assert_eq!(older, ["controls", "personnel", "personnel_background_checks", "personnel_training"]);
    let refused = PreviousSnapshot::open_latest(tmp.path(), None, "guide", "http://x").unwrap().err().unwrap();
    assert!(refused.contains("older version of drata-etl") && refused.contains("personnel_training"), "{refused}");
}

#[test]
fn verify_flags_reordered_retyped_and_truncated_columns() {
    use crate::load::verify::verify_snapshot;
    type Shape = fn(Arc<arrow::datatypes::Schema>) -> Arc<arrow::datatypes::Schema>;
    let shapes: [(&str, Shape); 3] = [
        ("reordered", |s| {
            let mut f = s.fields().to_vec();
            f.swap(2, 3);
            Arc::new(arrow::datatypes::Schema::new(f))
        }),
        ("retyped", |s| {
            // An appended column whose type changed: not an older prefix.
            let mut f: Vec<arrow::datatypes::Field> = s.fields().iter().map(|f| f.as_ref().clone()).collect();
            let last = f.len() - 1;
            let t = if f[last].data_type() == &DataType::Int32 { DataType::Utf8 } else { DataType::Int32 };
            f[last] = arrow::datatypes::Field::new(f[last].name(), t, true);
            Arc::new(arrow::datatypes::Schema::new(f))
        }),
        ("without snapshot_at", |s| {
            let at = s.index_of("snapshot_at").unwrap();
            Arc::new(arrow::datatypes::Schema::new(s.fields()[..at].to_vec()))
        }),
    ];
    for (what, shape) in shapes {
        let tmp = tempfile::tempdir().unwrap();
        extreme_snapshot_with(tmp.path(), shape);
        let m = Catalogue::trusted(tmp.path(), "t").unwrap().latest(None).unwrap().manifest.clone();
        let problems = verify_snapshot(tmp.path(), &m);
        // Personnel, training, background checks, controls and policies (the snapshot's tables).
        assert_eq!(problems.len(), 5, "{what}: {problems:?}");
        assert!(problems.iter().all(|p| p.what.contains("schema differs")), "{what}: {problems:?}");
    }
}
