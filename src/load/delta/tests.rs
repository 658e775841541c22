//! Unit tests of `load::delta`'s planning: paths, partition values, stats, and the one
//! commit that replaces a rerun's files.

use super::*;
use crate::load::manifest::{FileEntry, TableEntry};
use crate::stats::{ApiStats, EnrichmentStats, ListingStats};

fn manifest(workspace: Option<&str>, id: &str, finished_at: &str, files: &[(u64, u64)]) -> Manifest {
    let date = format!("{}-{}-{}", &id[0..4], &id[4..6], &id[6..8]);
    let ws = workspace.map(|w| format!("workspace={w}/")).unwrap_or_default();
    let entries = files
        .iter()
        .enumerate()
        .map(|(n, (rows, bytes))| FileEntry {
            path: format!("personnel/{ws}snapshot_date={date}/snapshot_id={id}/part-{n:05}.parquet"),
            rows: *rows,
            bytes: *bytes,
            sha256: "00".repeat(32),
        })
        .collect();
    Manifest {
        format_version: 1,
        run_id: "0123abcd".into(),
        snapshot_id: id.into(),
        snapshot_date: date,
        workspace: workspace.map(str::to_owned),
        run_at: String::new(),
        started_at: String::new(),
        finished_at: finished_at.into(),
        tool_version: "t".into(),
        api_dialect: "guide".into(),
        base_url: String::new(),
        tables: [("personnel".to_string(), TableEntry { rows: files.iter().map(|f| f.0).sum(), files: entries })]
            .into(),
        listing: ListingStats::default(),
        enrichment: EnrichmentStats::default(),
        incremental: None,
        api: ApiStats::default(),
    }
}

fn held(w: &WantedFile) -> HeldFile {
    HeldFile { path: w.path.clone(), size: w.size, modification_time: w.modification_time, workspace: None }
}

#[test]
fn partition_columns_follow_the_layouts_levels() {
    assert_eq!(partition_columns(false), ["snapshot_date", "snapshot_id"]);
    assert_eq!(partition_columns(true), ["workspace", "snapshot_date", "snapshot_id"]);
}

#[test]
fn wanted_files_are_relative_to_the_table_with_their_partition_values_and_row_counts() {
    let m = manifest(Some("acme"), "20260304T050607Z", "2026-03-04T05:07:00.250Z", &[(3, 100), (2, 90)]);
    let w = wanted(Table::Personnel, &[&m]);
    assert_eq!(w.len(), 2);
    assert_eq!(w[1].path, "workspace=acme/snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00001.parquet");
    assert_eq!(
        w[0].partition,
        [
            ("snapshot_date".to_string(), "2026-03-04".to_string()),
            ("snapshot_id".to_string(), "20260304T050607Z".to_string()),
            ("workspace".to_string(), "acme".to_string()),
        ]
        .into()
    );
    assert_eq!((w[0].size, w[0].rows, w[1].rows), (100, 3, 2));
    assert_eq!(w[0].modification_time, 1_772_600_820_250);
    assert_eq!(w[0].stats(), r#"{"numRecords":3}"#);
    // A table the manifest does not have (an older snapshot) wants nothing.
    assert!(wanted(Table::PersonnelPolicies, &[&m]).is_empty());
}

#[test]
fn a_new_snapshot_is_only_added_and_an_unchanged_log_needs_no_commit() {
    let a = manifest(None, "20260304T050607Z", "2026-03-04T05:07:00Z", &[(3, 100)]);
    let b = manifest(None, "20260305T050607Z", "2026-03-05T05:07:00Z", &[(4, 120)]);
    let held_a: Vec<HeldFile> = wanted(Table::Personnel, &[&a]).iter().map(held).collect();
    let p = plan(wanted(Table::Personnel, &[&a, &b]), &held_a);
    assert!(p.remove.is_empty());
    assert_eq!(p.add.len(), 1);
    assert_eq!(p.add[0].snapshot_id, "20260305T050607Z");
    assert_eq!(p.snapshots().into_iter().collect::<Vec<_>>(), ["20260305T050607Z"]);
    let held_ab: Vec<HeldFile> = wanted(Table::Personnel, &[&a, &b]).iter().map(held).collect();
    assert!(plan(wanted(Table::Personnel, &[&a, &b]), &held_ab).is_empty());
}

#[test]
fn a_rerun_re_adds_rewritten_paths_and_removes_the_ones_it_no_longer_writes() {
    let first = manifest(None, "20260304T050607Z", "2026-03-04T05:07:00Z", &[(3, 100), (3, 100)]);
    let rerun = manifest(None, "20260304T050607Z", "2026-03-04T06:00:00Z", &[(5, 100)]);
    let held_first: Vec<HeldFile> = wanted(Table::Personnel, &[&first]).iter().map(held).collect();
    let p = plan(wanted(Table::Personnel, &[&rerun]), &held_first);
    // Same size, new commit time: re-added (no Remove of a path that is also added).
    assert_eq!(p.add.len(), 1);
    assert_eq!(p.add[0].path, "snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00000.parquet");
    assert_eq!(p.add[0].rows, 5);
    assert_eq!(p.remove, ["snapshot_date=2026-03-04/snapshot_id=20260304T050607Z/part-00001.parquet"]);
}

#[test]
fn a_pruned_snapshot_is_removed_and_only_manifests_of_the_scope_count() {
    let a = manifest(Some("acme"), "20260304T050607Z", "2026-03-04T05:07:00Z", &[(3, 100)]);
    let b = manifest(Some("acme"), "20260305T050607Z", "2026-03-05T05:07:00Z", &[(4, 120)]);
    let other = manifest(Some("beta"), "20260305T050607Z", "2026-03-05T05:07:00Z", &[(1, 10)]);
    let all = [a.clone(), b.clone(), other];
    assert_eq!(of_scope(&all, Some("acme")).len(), 2);
    assert_eq!(of_scope(&all, None).len(), 0);
    let held_ab: Vec<HeldFile> = wanted(Table::Personnel, &[&a, &b]).iter().map(held).collect();
    let p = plan(wanted(Table::Personnel, &[&b]), &held_ab);
    assert!(p.add.is_empty());
    assert_eq!(p.remove, [wanted(Table::Personnel, &[&a])[0].path.clone()]);
}

/// An in-memory store that holds the first two writes of a `_delta_log/` object until both
/// have arrived: two writers' first commits then race for the same version for certain.
#[derive(Debug)]
struct RacingStore {
    inner: object_store::memory::InMemory,
    barrier: tokio::sync::Barrier,
    arrived: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Display for RacingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RacingStore")
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for RacingStore {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if location.as_ref().contains("/_delta_log/")
            && self.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2
        {
            self.barrier.wait().await;
        }
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Two writers of one store root (runs of two workspaces) reach their first Delta commit
/// at once: both see no log and both try to create it. The log store's conditional create
/// gives version 0 to one; the other plans again on top of it and gets version 1.
#[tokio::test]
async fn racing_writers_in_a_store_each_get_a_version_and_lose_nothing() {
    use crate::load::log_root::LogRoot;
    let racing = RacingStore {
        inner: object_store::memory::InMemory::new(),
        barrier: tokio::sync::Barrier::new(2),
        arrived: 0.into(),
    };
    let store: std::sync::Arc<dyn object_store::ObjectStore> = std::sync::Arc::new(racing);
    let root = LogRoot::Store { store: store.clone(), prefix: "lake".into(), url: "memory://bucket/lake".into() };
    let a = manifest(Some("acme"), "20260304T050607Z", "2026-03-04T05:07:00Z", &[(3, 100)]);
    let b = manifest(Some("beta"), "20260304T050607Z", "2026-03-04T05:07:01Z", &[(4, 120), (1, 20)]);
    let all = [a, b];
    let (ra, rb) =
        tokio::join!(log::sync(&root, Some("acme"), &all, "run-a"), log::sync(&root, Some("beta"), &all, "run-b"));
    let personnel = |r: Vec<crate::load::table_format::TableVersion>| {
        r.into_iter().find(|v| v.table == "personnel").map(|v| v.version).unwrap()
    };
    let mut versions = [personnel(ra.unwrap()), personnel(rb.unwrap())];
    versions.sort();
    assert_eq!(versions, [Some(0), Some(1)], "one version each");
    let acme = log::state(&root, Table::Personnel, Some("acme")).await.unwrap().unwrap();
    let beta = log::state(&root, Table::Personnel, Some("beta")).await.unwrap().unwrap();
    assert_eq!((acme.version, acme.files.len(), beta.files.len()), (1, 1, 2));
    // The log's objects are exactly the two versions, under the table's key prefix.
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(Some(&object_store::path::Path::from("lake/personnel/_delta_log")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["lake/personnel/_delta_log/00000000000000000000.json", "lake/personnel/_delta_log/00000000000000000001.json"]
    );
    // The loser did not create the table a second time (a new table id at version 1 would
    // make it another table to Delta readers): its version adds files to the winner's table.
    let second = store.get_opts(&object_store::path::Path::from(keys[1].as_str()), Default::default()).await.unwrap();
    let second = String::from_utf8(second.bytes().await.unwrap().to_vec()).unwrap();
    assert!(second.contains(r#""operation":"WRITE""#) && !second.contains(r#""metaData""#), "{second}");
}

/// Hourly runs make thousands of versions: a table the tool creates gets a checkpoint every
/// ten, so opening it reads one checkpoint and a few commits; every JSON commit stays (time
/// travel, and the history `list` reads).
#[tokio::test]
async fn every_tenth_version_is_checkpointed_and_no_commit_is_cleaned_up() {
    use crate::load::log_root::LogRoot;
    use futures::TryStreamExt;
    let store: std::sync::Arc<dyn object_store::ObjectStore> =
        std::sync::Arc::new(object_store::memory::InMemory::new());
    let root = LogRoot::Store { store: store.clone(), prefix: String::new(), url: "memory://bucket".into() };
    let mut all = Vec::new();
    for hour in 0..23 {
        let id = format!("20260304T{hour:02}0000Z");
        all.push(manifest(None, &id, &format!("2026-03-04T{hour:02}:00:30Z"), &[(2, 50)]));
        log::sync(&root, None, &all, "run").await.unwrap();
    }
    let mut keys: Vec<String> = store
        .list(Some(&object_store::path::Path::from("personnel/_delta_log")))
        .map_ok(|m| m.location.to_string().trim_start_matches("personnel/_delta_log/").to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    let checkpoints: Vec<&String> = keys.iter().filter(|k| k.contains("checkpoint.parquet")).collect();
    // After every tenth commit (versions 9, 19, ...).
    assert_eq!(checkpoints, ["00000000000000000009.checkpoint.parquet", "00000000000000000019.checkpoint.parquet"]);
    assert_eq!(keys.iter().filter(|k| k.ends_with(".json")).count(), 23, "every commit kept: {keys:?}");
    assert!(keys.contains(&"_last_checkpoint".to_string()), "{keys:?}");
    let st = log::state(&root, Table::Personnel, None).await.unwrap().unwrap();
    assert_eq!((st.version, st.files.len()), (22, 23));
    let (current, by_id) = log::versions_by_snapshot(&root, Table::Personnel, true).await.unwrap();
    assert_eq!(
        (current, by_id.len(), by_id.get("20260304T000000Z"), by_id.get("20260304T220000Z")),
        (Some(22), 23, Some(&0), Some(&22))
    );
}
