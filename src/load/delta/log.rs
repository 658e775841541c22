//! The Delta log of each table folder, through delta-rs (`deltalake-core`, without its
//! DataFusion engine): create a table with the first snapshot's files, commit a `Plan`
//! (`super::plan`) as one Delta version, read which files the log holds.
//!
//! A table is created in the same commit as its first files (version 0 holds data), so
//! every Delta version is one step of the manifests: a snapshot added, replaced or pruned.
//! A table created by an older version of the tool gains the columns appended since (an
//! `AddColumn` commit before the data commit); a table whose partition columns are not this
//! scope's (a root that mixes labelled and unlabelled runs) is a usage error (exit 64).

use super::{partition_columns, HeldFile, Plan, WORKSPACE_COLUMN};
use crate::error::{EtlError, FailureKind};
use crate::load::batch::schema_for;
use crate::load::layout::Table;
use crate::load::log_root::LogRoot;
use crate::load::manifest::Manifest;
use crate::load::table_format::TableVersion;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, StructField, StructType};
use deltalake_core::logstore::{default_logstore, StorageConfig};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};
use futures::StreamExt;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// Versions between two checkpoints of a table the tool creates (`delta.checkpointInterval`;
/// delta-rs's default, 100, would still replay up to 99 commits at every open).
const CHECKPOINT_INTERVAL: &str = "10";

/// The key of the commit metadata naming what the commit did in the tool's terms.
const COMMIT_KEY: &str = "drataEtl";
/// Concurrent writers of the same log (runs of different workspaces sharing a root) retry
/// this often before the run fails as temporary (75).
const MAX_COMMIT_RETRIES: usize = 15;

/// The table folder's URL: `file:///…/<table>/`, or the store's `scheme://bucket/prefix/<table>/`
/// (its path is the objects' key prefix, which is how delta-rs resolves files in the store).
fn table_url(root: &LogRoot, table: Table) -> Result<Url, EtlError> {
    match root {
        LogRoot::Folder(dir) => {
            let abs = std::path::absolute(dir).map_err(|e| {
                EtlError::cannot_write(format!("cannot resolve the output root {}: {e}", dir.display()))
            })?;
            Url::from_directory_path(abs.join(table.name()))
                .map_err(|_| EtlError::cannot_write(format!("{} cannot be named as a file URL", dir.display())))
        }
        LogRoot::Store { url, .. } => Url::parse(&format!("{}/{}/", url.trim_end_matches('/'), table.name()))
            .map_err(|e| EtlError::usage(format!("{url}: cannot name its {} table as a URL: {e}", table.name()))),
    }
}

/// The key prefix of a table folder (or of a folder inside it) in a store.
fn table_key(prefix: &str, table: Table, inside: &str) -> ObjectPath {
    let folder = if prefix.is_empty() { table.name().to_string() } else { format!("{prefix}/{}", table.name()) };
    ObjectPath::from(if inside.is_empty() { folder } else { format!("{folder}/{inside}") })
}

fn delta_err(table: Table, root: &LogRoot, what: &str, e: DeltaTableError) -> EtlError {
    let shown = root.table_label(table.name());
    let kind = match &e {
        DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_) => FailureKind::Temporary,
        DeltaTableError::InvalidJsonLog { .. } | DeltaTableError::InvalidStatsJson { .. } => FailureKind::DataInvalid,
        _ => FailureKind::CannotWrite,
    };
    EtlError::new(
        kind,
        format!(
            "Delta log of {shown}: cannot {what}: {e}. The snapshot itself is committed (its manifest is written); \
             the next run with --table-format delta brings the Delta log up to date"
        ),
    )
}

/// Whether the table folder has a Delta log (a `_delta_log/` with anything in it).
async fn has_log(root: &LogRoot, table: Table) -> Result<bool, EtlError> {
    match root {
        LogRoot::Folder(dir) => Ok(dir.join(table.name()).join("_delta_log").is_dir()),
        LogRoot::Store { store, prefix, .. } => {
            let log = table_key(prefix, table, "_delta_log");
            match store.list(Some(&log)).next().await {
                None => Ok(false),
                Some(Ok(_)) => Ok(true),
                Some(Err(e)) => Err(EtlError::new(
                    FailureKind::Temporary,
                    format!("cannot list {}/_delta_log: {e}", root.table_label(table.name())),
                )),
            }
        }
    }
}

/// The table's handle, not loaded: on a store, delta-rs's default log store over the
/// tool's own object store, which commits a version as a conditional create of its
/// `_delta_log/<version>.json` (`If-None-Match: *`), so two writers never both get one.
fn handle(root: &LogRoot, table: Table) -> Result<DeltaTable, EtlError> {
    let url = table_url(root, table)?;
    match root {
        LogRoot::Folder(_) => DeltaTableBuilder::from_url(url)
            .and_then(|b| b.build())
            .map_err(|e| delta_err(table, root, "open the table", e)),
        LogRoot::Store { store, prefix, .. } => {
            let prefixed: Arc<dyn ObjectStore> =
                Arc::new(PrefixStore::new(store.clone(), table_key(prefix, table, "")));
            let log_store = default_logstore(prefixed, store.clone(), &url, &StorageConfig::default());
            Ok(DeltaTable::new(log_store))
        }
    }
}

/// The table's log, loaded; `None` when the folder holds no Delta table yet.
async fn open(root: &LogRoot, table: Table) -> Result<Option<DeltaTable>, EtlError> {
    if !has_log(root, table).await? {
        return Ok(None);
    }
    let mut t = handle(root, table)?;
    match t.load().await {
        Ok(()) => Ok(Some(t)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(delta_err(table, root, "read the log", e)),
    }
}

/// The table's partition columns as its log declares them.
fn partitioning(t: &DeltaTable) -> Result<Vec<String>, DeltaTableError> {
    Ok(t.snapshot()?.metadata().partition_columns().to_vec())
}

/// Exit 64 unless `t` is partitioned as this scope's runs write.
fn check_partitioning(t: &DeltaTable, root: &LogRoot, table: Table, labelled: bool) -> Result<(), EtlError> {
    let have = partitioning(t).map_err(|e| delta_err(table, root, "read the table metadata", e))?;
    let want = partition_columns(labelled);
    if have != want {
        return Err(EtlError::usage(format!(
            "{} is a Delta table partitioned by ({}), but this run writes ({}): one output root \
             cannot mix runs with and without --workspace in Delta format. Label every run \
             (or none), or give the other kind its own --out",
            root.table_label(table.name()),
            have.join(", "),
            want.join(", ")
        )));
    }
    Ok(())
}

/// Exit 64 when this run's Delta tables cannot take its snapshot: a table partitioned for
/// the other kind of run, or (no log yet) committed snapshots of the other kind that the
/// first Delta commit would have to leave out. Checked before the run lists anyone.
pub async fn precheck(root: &LogRoot, workspace: Option<&str>, manifests: &[Manifest]) -> Result<(), EtlError> {
    let labelled = workspace.is_some();
    for table in Table::ALL {
        if let Some(t) = open(root, table).await? {
            check_partitioning(&t, root, table, labelled)?;
        }
    }
    if let Some(other) = manifests.iter().find(|m| m.workspace.is_some() != labelled) {
        return Err(EtlError::usage(format!(
            "{} holds snapshot {}{} committed {} --workspace; a Delta table has one partitioning, \
             so one output root cannot mix runs with and without --workspace in Delta format. \
             Label every run (or none), or give this kind of run its own --out",
            root.label(),
            other.snapshot_id,
            other.workspace.as_deref().map(|w| format!(" of workspace {w}")).unwrap_or_default(),
            if other.workspace.is_some() { "with" } else { "without" },
        )));
    }
    Ok(())
}

/// Every column of `table` as a Delta field: the files' columns, then the partition
/// columns (which the files do not hold; readers take them from the log).
fn delta_fields(table: Table, labelled: bool) -> Result<Vec<StructField>, EtlError> {
    let schema: StructType = schema_for(table)
        .as_ref()
        .try_into_kernel()
        .map_err(|e| EtlError::cannot_write(format!("the {} columns have no Delta type: {e}", table.name())))?;
    let mut fields: Vec<StructField> = schema.fields().cloned().collect();
    use deltalake_core::kernel::DataType;
    if labelled {
        fields.push(StructField::new(WORKSPACE_COLUMN, DataType::STRING, false));
    }
    fields.push(StructField::new(super::DATE_COLUMN, DataType::DATE, false));
    fields.push(StructField::new(super::ID_COLUMN, DataType::STRING, false));
    Ok(fields)
}

/// The log's files of one scope (a labelled root's other workspaces are not this run's).
fn held_files(t: &DeltaTable, workspace: Option<&str>) -> Result<Vec<HeldFile>, DeltaTableError> {
    let state = t.snapshot()?;
    let mut out = Vec::new();
    for f in state.log_data().iter() {
        let ws = f.partition_values_map().get(WORKSPACE_COLUMN).cloned().flatten();
        if ws.as_deref() != workspace {
            continue;
        }
        out.push(HeldFile {
            path: f.path().to_string(),
            size: f.size(),
            modification_time: f.modification_time(),
            workspace: ws,
        });
    }
    Ok(out)
}

fn add_action(f: &super::WantedFile) -> Action {
    Action::Add(Add {
        path: f.path.clone(),
        partition_values: f.partition.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
        size: f.size,
        modification_time: f.modification_time,
        data_change: true,
        stats: Some(f.stats()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })
}

fn commit_properties(plan: &Plan, run_id: &str) -> CommitProperties {
    let info = serde_json::json!({
        "runId": run_id,
        "snapshotsAdded": plan.snapshots(),
        "filesAdded": plan.add.len(),
        "filesRemoved": plan.remove.len(),
    });
    CommitProperties::default()
        .with_metadata([(COMMIT_KEY.to_string(), info)])
        .with_max_retries(MAX_COMMIT_RETRIES)
        // A checkpoint every `CHECKPOINT_INTERVAL` versions, so opening a log reads one
        // checkpoint and a few commits, not every commit since the first snapshot (hourly
        // runs make thousands). No log clean-up: every JSON commit stays, for time travel
        // and for the history `list` reads.
        .with_create_checkpoint(true)
        .with_cleanup_expired_logs(Some(false))
}

/// Bring every table's log of `workspace`'s scope in line with its committed manifests, one
/// Delta commit per table that needs one. `run_id` is recorded in each commit's metadata.
pub async fn sync(
    root: &LogRoot,
    workspace: Option<&str>,
    manifests: &[Manifest],
    run_id: &str,
) -> Result<Vec<TableVersion>, EtlError> {
    let scope = super::of_scope(manifests, workspace);
    let mut out = Vec::new();
    for table in Table::ALL {
        let mut attempt = 1;
        loop {
            match sync_table(root, table, workspace, &scope, run_id).await {
                Ok(v) => {
                    out.push(v);
                    break;
                }
                // Another writer (a run of another workspace sharing the root) committed
                // first: plan again from the log as it is now.
                Err(Step::Raced(_)) if attempt < MAX_SYNC_ATTEMPTS => attempt += 1,
                Err(Step::Raced(e) | Step::Failed(e)) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Plans made again, from a freshly read log, after another writer's commit won the race
/// for a version (`MAX_COMMIT_RETRIES` covers the races delta-rs resolves by itself).
const MAX_SYNC_ATTEMPTS: usize = 8;

/// How one table's sync ended when it did not: lost a race to another writer (worth
/// planning again), or failed.
enum Step {
    Raced(EtlError),
    Failed(EtlError),
}

impl From<EtlError> for Step {
    fn from(e: EtlError) -> Self {
        Step::Failed(e)
    }
}

fn lost_race(e: &DeltaTableError) -> bool {
    matches!(e, DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_))
}

async fn sync_table(
    root: &LogRoot,
    table: Table,
    workspace: Option<&str>,
    scope: &[&Manifest],
    run_id: &str,
) -> Result<TableVersion, Step> {
    let labelled = workspace.is_some();
    let wanted = super::wanted(table, scope);
    let Some(mut t) = open(root, table).await? else {
        if wanted.is_empty() && scope.iter().all(|m| !m.tables.contains_key(table.name())) {
            return Ok(TableVersion { table: table.name().into(), version: None, added: 0, removed: 0 });
        }
        let plan = Plan { add: wanted, remove: Vec::new() };
        let added = plan.add.len();
        let created = deltalake_core::operations::create::CreateBuilder::new()
            .with_log_store(handle(root, table)?.log_store())
            .with_table_name(table.name())
            .with_columns(delta_fields(table, labelled)?)
            .with_partition_columns(partition_columns(labelled))
            .with_configuration_property(TableProperty::CheckpointInterval, Some(CHECKPOINT_INTERVAL))
            .with_actions(plan.add.iter().map(add_action))
            // Never retried inside delta-rs: a create that lost version 0 would be written
            // again as version 1 with a new table id; it is planned again instead.
            .with_commit_properties(commit_properties(&plan, run_id).with_max_retries(0))
            .await;
        return match created {
            Ok(t) => Ok(TableVersion { table: table.name().into(), version: t.version(), added, removed: 0 }),
            // Created by another writer meanwhile: version 0 is theirs; add ours on top.
            Err(e) if has_log(root, table).await? => Err(Step::Raced(delta_err(table, root, "create the table", e))),
            Err(e) => Err(Step::Failed(delta_err(table, root, "create the table", e))),
        };
    };
    check_partitioning(&t, root, table, labelled)?;
    let held = held_files(&t, workspace).map_err(|e| delta_err(table, root, "list the table's files", e))?;
    let plan = super::plan(wanted, &held);
    if plan.is_empty() {
        return Ok(TableVersion { table: table.name().into(), version: t.version(), added: 0, removed: 0 });
    }
    t = add_missing_columns(t, root, table, labelled, run_id).await?;
    let removes: BTreeMap<&str, ()> = plan.remove.iter().map(|p| (p.as_str(), ())).collect();
    let state = t.snapshot().map_err(|e| delta_err(table, root, "read the table state", e))?;
    let mut actions: Vec<Action> = state
        .log_data()
        .iter()
        .filter(|f| removes.contains_key(f.path().as_ref()))
        .map(|f| Action::Remove(f.remove_action(true)))
        .collect();
    actions.extend(plan.add.iter().map(add_action));
    let op = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(partition_columns(labelled)),
        predicate: None,
    };
    let done = CommitBuilder::from(commit_properties(&plan, run_id))
        .with_actions(actions)
        .build(Some(state), t.log_store(), op)
        .await
        .map_err(|e| {
            let raced = lost_race(&e);
            let e = delta_err(table, root, "commit", e);
            if raced {
                Step::Raced(e)
            } else {
                Step::Failed(e)
            }
        })?;
    Ok(TableVersion {
        table: table.name().into(),
        version: Some(done.version()),
        added: plan.add.len(),
        removed: plan.remove.len(),
    })
}

/// A table created by an older version of the tool lacks the columns appended since: add
/// them (a commit of its own, before the data) so the new files' columns are in the schema.
async fn add_missing_columns(
    t: DeltaTable,
    root: &LogRoot,
    table: Table,
    labelled: bool,
    run_id: &str,
) -> Result<DeltaTable, EtlError> {
    let have = t.snapshot().map_err(|e| delta_err(table, root, "read the schema", e))?.schema();
    let missing: Vec<StructField> =
        delta_fields(table, labelled)?.into_iter().filter(|f| have.field(f.name()).is_none()).collect();
    if missing.is_empty() {
        return Ok(t);
    }
    let props = CommitProperties::default()
        .with_metadata([(COMMIT_KEY.to_string(), serde_json::json!({ "runId": run_id, "columnsAdded": true }))])
        .with_create_checkpoint(true)
        .with_cleanup_expired_logs(Some(false));
    t.add_columns()
        .with_fields(missing)
        .with_commit_properties(props)
        .await
        .map_err(|e| delta_err(table, root, "add the columns appended since the table was created", e))
}

/// What `verify` and `list` need of one table's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    pub version: u64,
    /// Files the log holds for this scope, by path relative to the table folder.
    pub files: Vec<HeldFile>,
}

/// The table's log state for one scope; `None` when it has no log.
pub async fn state(root: &LogRoot, table: Table, workspace: Option<&str>) -> Result<Option<LogState>, EtlError> {
    let Some(t) = open(root, table).await? else { return Ok(None) };
    let files = held_files(&t, workspace).map_err(|e| delta_err(table, root, "list the table's files", e))?;
    Ok(Some(LogState { version: t.version().unwrap_or(0), files }))
}

/// Whether any table under `root` has a Delta log (so maintenance commands keep it in step).
pub async fn any_log(root: &LogRoot) -> Result<bool, EtlError> {
    for t in Table::ALL {
        if has_log(root, t).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The problems `verify` reports for one scope: files the manifests list that the log does
/// not hold as written (or at all), files it holds that no manifest lists.
pub async fn check(root: &LogRoot, workspace: Option<&str>, manifests: &[Manifest]) -> Result<Vec<String>, EtlError> {
    let scope = super::of_scope(manifests, workspace);
    let mut problems = Vec::new();
    for table in Table::ALL {
        let wanted = super::wanted(table, &scope);
        let Some(st) = state(root, table, workspace).await? else {
            if !wanted.is_empty() {
                problems.push(format!("{}: no Delta log, but the manifests list {} files", table.name(), wanted.len()));
            }
            continue;
        };
        let plan = super::plan(wanted, &st.files);
        for f in &plan.add {
            problems.push(format!(
                "{}/{}: listed by the manifest of snapshot {} but not added to the Delta log (version {}) as written",
                table.name(),
                f.path,
                f.snapshot_id,
                st.version
            ));
        }
        for p in &plan.remove {
            problems.push(format!(
                "{}/{p}: in the Delta log (version {}) but listed by no manifest",
                table.name(),
                st.version
            ));
        }
    }
    Ok(problems)
}

/// For each snapshot id of `table`'s log: the latest version whose commit added its files
/// (read from the commit metadata the tool records). Versions are counted down from the
/// current one: the tool never cleans the log (its checkpoints replace no commit), so every commit
/// since version 0 is there.
/// Without `history`, the current version alone (an empty map): the history reads one
/// object per version, which a log of hourly runs has thousands of.
pub async fn versions_by_snapshot(
    root: &LogRoot,
    table: Table,
    history: bool,
) -> Result<(Option<u64>, BTreeMap<String, u64>), EtlError> {
    let Some(t) = open(root, table).await? else { return Ok((None, BTreeMap::new())) };
    let current = t.version().unwrap_or(0);
    if !history {
        return Ok((Some(current), BTreeMap::new()));
    }
    let infos: Vec<_> =
        t.history(None).try_collect().await.map_err(|e| delta_err(table, root, "read the history", e))?;
    let mut out = BTreeMap::new();
    for (i, info) in infos.iter().enumerate() {
        let Some(version) = current.checked_sub(i as u64) else { break };
        let added = info.info.get(COMMIT_KEY).and_then(|v| v.get("snapshotsAdded")).and_then(|v| v.as_array());
        for id in added.into_iter().flatten().filter_map(|v| v.as_str()) {
            out.entry(id.to_string()).or_insert(version);
        }
    }
    Ok((Some(current), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake_core::kernel::{DataType, PrimitiveType};

    #[test]
    fn a_store_table_is_named_by_its_key_prefix() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        for (prefix, url, want_url, want_key) in [
            (
                "lake/drata",
                "s3://bucket/lake/drata",
                "s3://bucket/lake/drata/personnel/",
                "lake/drata/personnel/_delta_log",
            ),
            ("", "gs://bucket", "gs://bucket/personnel/", "personnel/_delta_log"),
        ] {
            let root = LogRoot::Store { store: store.clone(), prefix: prefix.into(), url: url.into() };
            let got = table_url(&root, Table::Personnel).unwrap();
            assert_eq!(got.as_str(), want_url);
            // delta-rs finds files in the bucket-level store by the URL's path: the key prefix.
            assert_eq!(got.path().trim_matches('/'), table_key(prefix, Table::Personnel, "").as_ref());
            assert_eq!(table_key(prefix, Table::Personnel, "_delta_log").as_ref(), want_key);
            assert_eq!(root.table_label("personnel"), format!("{url}/personnel"));
        }
    }

    #[test]
    fn delta_columns_are_the_files_columns_then_the_partition_columns() {
        let files = schema_for(Table::Personnel);
        for labelled in [false, true] {
            let fields = delta_fields(Table::Personnel, labelled).unwrap();
            let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
            let file_names: Vec<&str> = files.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names[..file_names.len()], file_names[..]);
            let tail: Vec<&str> = names[file_names.len()..].to_vec();
            assert_eq!(tail, partition_columns(labelled).iter().map(String::as_str).collect::<Vec<_>>());
        }
        let fields = delta_fields(Table::Personnel, false).unwrap();
        let of = |name: &str| fields.iter().find(|f| f.name() == name).unwrap().data_type().clone();
        assert_eq!(of("snapshot_at"), DataType::Primitive(PrimitiveType::Timestamp));
        assert_eq!(of("snapshot_date"), DataType::DATE);
        assert_eq!(of("snapshot_id"), DataType::STRING);
        assert_eq!(of("id"), DataType::STRING);
    }
}
