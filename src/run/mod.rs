//! The run: preflight probe -> list -> enrich -> write -> commit, wired with bounded
//! channels, and the `RunSummary` that becomes the manifest and the one JSON line on stdout.
//! It takes complete `RunOptions` (built by `cli::resolve`) and only bumps progress
//! counters (`progress`); it knows nothing of the command line or the terminal.
//!
//! Extract runs on the async runtime; the Parquet writers run on one blocking thread fed by
//! a bounded channel, so a slow disk applies back-pressure instead of growing memory.

pub mod preflight;
pub mod progress;

use crate::deadline::RunDeadline;
use crate::drata::dialect::{Api, ApiChoice, Dialect};
use crate::drata::{ClientConfig, DrataClient};
use crate::error::{EtlError, FailureKind};
use crate::extract::enrich::{enrich_person, Enriched, FailureBudget};
use crate::extract::incremental::{decide, Origin};
use crate::extract::managers::ManagerLink;
use crate::extract::paging::{list_controls, list_personnel, read_spill, ListOptions};
use crate::load::manifest::TableEntry;
use crate::load::previous::PreviousSnapshot;
use crate::load::{Manifest, SnapshotKey, Staging, Table, TableWriter, WriterOptions};
use crate::record::{
    BackgroundCheck, ComplianceCheck, Control, Device, DeviceCheck, EnrichedPerson, FetchStatus, Identity,
    PolicyAssignment, Training,
};
use crate::redact::display_url;
use crate::stats::{ApiStats, EnrichmentStats, IncrementalStats, ListingStats};
use crate::store::RunTarget;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use progress::RunProgress;
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub client: ClientConfig,
    pub out: PathBuf,
    /// How to reach an object store when `out` is a URL.
    pub store: crate::store::StoreOptions,
    pub run_at: DateTime<Utc>,
    pub workspace: Option<String>,
    pub page_size: u64,
    /// `page_size` was set (flag, environment or config file), not the built-in default:
    /// a dialect with larger pages (v2) uses its own otherwise (`Api::preferred_page_size`).
    pub page_size_given: bool,
    pub max_list_passes: u32,
    pub max_failed_enrichments: FailureBudget,
    /// `Some(refresh_after)`: reuse unchanged people's child rows from the previous
    /// snapshot while they are younger than this; `None`: a full run.
    pub incremental: Option<std::time::Duration>,
    pub writer: WriterOptions,
    /// `--api`: the dialect to speak, or `None` to detect it in the preflight.
    pub api: ApiChoice,
    /// `--table-format`: with `Delta`, each table's Delta log follows the manifests.
    pub table_format: crate::load::TableFormat,
    /// Where OpenLineage events go (`None`: nowhere).
    pub lineage: Option<crate::lineage::LineageOptions>,
}

/// What a run did; printed as the last stdout line and embedded in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub status: &'static str,
    pub exit_code: i32,
    pub run_id: String,
    pub snapshot_id: String,
    pub snapshot_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    pub run_at: String,
    pub out: String,
    pub manifest: String,
    pub duration_secs: f64,
    pub rows: BTreeMap<String, u64>,
    pub compliance_status: BTreeMap<String, u64>,
    pub active: u64,
    pub inactive: u64,
    pub listing: ListingStats,
    pub enrichment: EnrichmentStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalStats>,
    pub api: ApiStats,
    /// `--table-format delta`: each table's Delta version after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Vec<crate::load::table_format::TableVersion>>,
    /// The manifest committed (for the lineage event; the summary line does not repeat it).
    #[serde(skip)]
    pub committed: Arc<Manifest>,
}

enum ToWriter {
    Person(Box<Enriched>, Origin),
}

struct Writers {
    personnel: TableWriter<EnrichedPerson>,
    training: TableWriter<Training>,
    checks: TableWriter<BackgroundCheck>,
    compliance: TableWriter<ComplianceCheck>,
    identities: TableWriter<Identity>,
    devices: TableWriter<Device>,
    device_checks: TableWriter<DeviceCheck>,
    policies: TableWriter<PolicyAssignment>,
}

/// Aggregates the writer thread reports back.
#[derive(Default)]
struct WriteTally {
    enrichment: EnrichmentStats,
    incremental: Option<IncrementalStats>,
    compliance: BTreeMap<String, u64>,
    active: u64,
    inactive: u64,
}

fn new_run_id() -> String {
    use rand::Rng;
    let bytes: [u8; 8] = rand::thread_rng().gen();
    hex::encode(bytes)
}

fn write_error(e: std::io::Error) -> EtlError {
    EtlError::cannot_write(format!(
        "writing Parquet failed: {e}. Check free space and permissions of the output directory"
    ))
}

/// Run the whole pipeline once. The output root is locked for the duration. When
/// `shutdown` completes first (a signal), the run stops taking work, commits nothing and
/// fails with the kind `shutdown` returns. OpenLineage START and COMPLETE/FAIL events are
/// sent around it (`lineage`), whatever the outcome, without changing it.
pub async fn run(
    opts: RunOptions,
    progress: &RunProgress,
    shutdown: impl std::future::Future<Output = FailureKind>,
) -> Result<RunSummary, EtlError> {
    let lineage = crate::lineage::Lineage::start(
        opts.lineage.as_ref(),
        lineage_facts(&opts),
        vec![opts.client.api_key.expose().to_string()],
    );
    let result = run_unobserved(opts, progress, shutdown).await;
    lineage.finish(result.as_ref().map(|s| (&*s.committed, s.manifest.as_str()))).await;
    result
}

fn lineage_facts(opts: &RunOptions) -> crate::lineage::event::RunFacts {
    let key = SnapshotKey::from_run_at(opts.run_at);
    crate::lineage::event::RunFacts {
        namespace: opts.lineage.as_ref().map(|l| l.namespace.clone()).unwrap_or_default(),
        workspace: opts.workspace.clone(),
        base_url: opts.client.base_url.clone(),
        out: opts.out.clone(),
        snapshot_id: key.id.clone(),
        snapshot_date: key.date.to_string(),
        run_at: key.run_at_rfc3339(),
        dialect: opts.api,
    }
}

async fn run_unobserved(
    opts: RunOptions,
    progress: &RunProgress,
    shutdown: impl std::future::Future<Output = FailureKind>,
) -> Result<RunSummary, EtlError> {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    tokio::pin!(shutdown);
    let output = crate::store::Output::parse(&opts.out, &opts.store)?;
    // Fail in seconds on a wrong host, key or scope, before taking the lock or writing.
    let preflight = tokio::select! {
        r = preflight::before_run(&opts.client, opts.page_size, opts.api) => r?,
        kind = &mut shutdown => return Err(EtlError::new(kind, "interrupted by a signal during the preflight; nothing was written")),
    };
    progress.preflight_done(preflight.people_total, preflight.expected_pages());
    let dialect = preflight.dialect.unwrap_or(Dialect::Guide);
    let key = SnapshotKey::from_run_at(opts.run_at).with_workspace(opts.workspace.clone());
    let run_id = new_run_id();
    let client = Arc::new(DrataClient::new(opts.client.clone())?);
    {
        let client = client.clone();
        progress.attach_api(move || client.stats());
    }
    // The API requests honour the deadline themselves; everything else runs under this.
    let deadline = RunDeadline::new(opts.client.deadline);
    let target = tokio::select! {
        r = RunTarget::open(&output, opts.workspace.as_deref(), &run_id, opts.incremental.is_some(), &deadline) => r?,
        kind = &mut shutdown => return Err(EtlError::new(kind, "interrupted by a signal while opening the output; nothing was written")),
    };
    let logs = match prepare_table_format(&opts, &target).await {
        Ok(logs) => logs,
        Err(e) => {
            target.close().await;
            return Err(e);
        }
    };
    let result = run_locked(
        &opts,
        progress,
        &target,
        logs.as_ref(),
        &client,
        dialect,
        &key,
        &run_id,
        started,
        clock,
        &deadline,
        shutdown,
    )
    .await;
    target.close().await;
    result
}

/// `--table-format` other than Parquet: before the run lists anyone, whether the output's
/// table-format logs can take this run's snapshot (exit 64 if not).
async fn prepare_table_format(
    opts: &RunOptions,
    target: &RunTarget,
) -> Result<Option<crate::load::table_log::Prepared>, EtlError> {
    if opts.table_format == crate::load::TableFormat::Parquet {
        return Ok(None);
    }
    let (root, manifests) = target.committed().await?;
    crate::load::table_log::prepare(opts.table_format, root, opts.workspace.as_deref(), manifests).await
}

/// After the commit: the table-format logs brought up to date with the committed manifests.
async fn publish_table_format(
    logs: Option<&crate::load::table_log::Prepared>,
    committed: &Manifest,
    run_id: &str,
) -> Result<Option<Vec<crate::load::table_format::TableVersion>>, EtlError> {
    let Some(logs) = logs else { return Ok(None) };
    let clock = std::time::Instant::now();
    let versions = logs.publish(committed, run_id).await?;
    tracing::info!(
        format = logs.format().name(),
        tables = versions.len(),
        ms = clock.elapsed().as_millis() as u64,
        "table-format logs brought up to date"
    );
    Ok(Some(versions))
}

/// The run once its output is locked: extract, write, commit (and publish to a store).
#[allow(clippy::too_many_arguments)]
async fn run_locked(
    opts: &RunOptions,
    progress: &RunProgress,
    target: &RunTarget,
    logs: Option<&crate::load::table_log::Prepared>,
    client: &DrataClient,
    dialect: Dialect,
    key: &SnapshotKey,
    run_id: &str,
    started: DateTime<Utc>,
    clock: std::time::Instant,
    deadline: &RunDeadline,
    shutdown: impl std::future::Future<Output = FailureKind>,
) -> Result<RunSummary, EtlError> {
    tokio::pin!(shutdown);
    let mut staging = target.root.begin(key, run_id)?;
    if opts.table_format != crate::load::TableFormat::Parquet {
        // A Delta version lists paths: a rerun of this snapshot must not write new rows
        // under a path an earlier version lists.
        staging.tag_files(run_id);
    }
    tracing::info!(snapshot_id = %key.id, base_url = %display_url(client.base_url()), out = %opts.out.display(), "run started");

    let outcome = tokio::select! {
        r = deadline.bound(
            "listing, enriching and writing the snapshot",
            extract_and_write(opts, progress, client, &staging, dialect, target.local_root(), deadline),
        ) => r,
        kind = &mut shutdown => Err(EtlError::new(kind, "interrupted by a signal: stopped taking work; nothing was committed (the next run starts clean)")),
    };
    // Everyone "vanished" is not a workspace emptying itself between two requests: it is a
    // host that does not serve the per-person endpoints (e.g. the wrong --api or --base-url).
    let outcome = outcome.and_then(|written| {
        let e = &written.1.enrichment;
        if e.people >= EVERYONE_GONE_MIN && e.gone == e.people {
            return Err(EtlError::new(
                FailureKind::Auth,
                format!(
                    "every one of the {} people answered 404 on their per-person endpoints (training, background checks, assigned policies): this host does not serve the per-person endpoints of the {} dialect. Check --base-url and --api; nothing was committed",
                    e.people,
                    dialect.name()
                ),
            ));
        }
        Ok(written)
    });
    // Derived tables (issue 5): the org hierarchy, from the staged personnel files, before commit.
    let outcome = outcome.and_then(|(listing, tally, mut files)| {
        files.push((Table::PersonnelOrg, crate::load::org::derive(&staging, &files, opts.writer)?));
        // Blocking (not cancellable by a timeout): checked as soon as it returns.
        deadline.check("deriving the personnel_org table")?;
        Ok((listing, tally, files))
    });
    match outcome {
        Ok((listing, tally, files)) => {
            let finished = Utc::now();
            let api = client.stats();
            let mut tables = BTreeMap::new();
            for (table, files) in files {
                let rows = files.iter().map(|f| f.rows).sum();
                tables.insert(table.name().to_string(), TableEntry { rows, files });
            }
            let manifest = Manifest {
                format_version: crate::load::manifest::MANIFEST_FORMAT_VERSION,
                run_id: run_id.to_string(),
                snapshot_id: key.id.clone(),
                snapshot_date: key.date.to_string(),
                workspace: key.workspace.clone(),
                run_at: key.run_at_rfc3339(),
                started_at: started.to_rfc3339_opts(SecondsFormat::Millis, true),
                finished_at: finished.to_rfc3339_opts(SecondsFormat::Millis, true),
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                api_dialect: dialect.name().into(),
                base_url: display_url(client.base_url()),
                tables,
                listing: listing.clone(),
                enrichment: tally.enrichment.clone(),
                incremental: tally.incremental.clone(),
                api: api.clone(),
            };
            staging.commit_before(&manifest, deadline)?;
            tokio::select! {
                r = deadline.bound("uploading the snapshot to the store", target.upload(&manifest, deadline)) => r?,
                kind = &mut shutdown => return Err(EtlError::new(kind, "interrupted by a signal while uploading: nothing was committed to the store (the next run cleans up)")),
            }
            let manifest_path = deadline
                .bound_with("applying the commit in the store", crate::deadline::ROLLS_FORWARD, target.apply(&manifest))
                .await?;
            tracing::info!(snapshot_id = %key.id, people = listing.unique, "snapshot committed");
            let delta = publish_table_format(logs, &manifest, run_id).await?;
            Ok(RunSummary {
                status: "ok",
                exit_code: 0,
                run_id: run_id.to_string(),
                snapshot_id: key.id.clone(),
                snapshot_date: key.date.to_string(),
                workspace: key.workspace.clone(),
                run_at: key.run_at_rfc3339(),
                out: opts.out.display().to_string(),
                manifest: manifest_path,
                duration_secs: clock.elapsed().as_secs_f64(),
                rows: manifest.tables.iter().map(|(k, v)| (k.clone(), v.rows)).collect(),
                compliance_status: tally.compliance,
                active: tally.active,
                inactive: tally.inactive,
                listing,
                enrichment: tally.enrichment,
                incremental: tally.incremental,
                api,
                delta,
                committed: Arc::new(manifest),
            })
        }
        Err(e) => {
            staging.abort();
            Err(e)
        }
    }
}

/// The stage a deadline failure in the writer names.
const WRITING: &str = "writing the snapshot files";

/// From this many people on, all of them `gone` fails the run (77) instead of committing.
const EVERYONE_GONE_MIN: u64 = 5;

/// The files written per table.
type TableFiles = Vec<(Table, Vec<crate::load::FileEntry>)>;
type Written = (ListingStats, WriteTally, TableFiles);

async fn extract_and_write(
    opts: &RunOptions,
    progress: &RunProgress,
    client: &DrataClient,
    staging: &Staging,
    dialect: Dialect,
    local_root: &std::path::Path,
    deadline: &RunDeadline,
) -> Result<Written, EtlError> {
    let api = Api::new(dialect, client);
    let list_opts = ListOptions {
        page_size: page_size(opts, &api),
        max_passes: opts.max_list_passes,
        concurrency: client.concurrency(),
    };

    // Controls are small: list them first so an auth or scope problem surfaces in one request.
    let (controls, invalid_controls) = list_controls(&api, list_opts).await?;
    if invalid_controls > 0 {
        tracing::warn!(count = invalid_controls, "controls without an id were skipped");
    }
    let mut control_writer: TableWriter<Control> = staging.writer(opts.writer)?;
    let listed = list_personnel(&api, list_opts, staging.dir()).await?;
    if listed.invalid_records > 0 {
        tracing::warn!(count = listed.invalid_records, "personnel records without an id were skipped");
    }
    tracing::info!(
        people = listed.stats.unique,
        pages_limit = listed.stats.page_limit,
        passes = listed.stats.passes,
        "personnel listed"
    );
    progress.listed(listed.stats.unique);
    let mut listing_stats = listed.stats.clone();
    // Real dialects: managers from everyone's identities (a manager may be listed after
    // their reports), so one pass over the whole listing first; and the devices of nobody
    // listed, counted.
    let managers = match dialect {
        Dialect::Guide => None,
        _ => {
            let index = crate::extract::managers::ManagerIndex::build(read_spill(&listed.spill)?)?;
            listing_stats.unmatched_devices = api.unmatched_devices(|id| index.is_listed(id));
            if listing_stats.unmatched_devices > 0 {
                tracing::warn!(
                    count = listing_stats.unmatched_devices,
                    "devices whose personnelId is nobody listed were not written"
                );
            }
            Some(index)
        }
    };

    let writers = Writers {
        personnel: staging.writer(opts.writer)?,
        training: staging.writer(opts.writer)?,
        checks: staging.writer(opts.writer)?,
        compliance: staging.writer(opts.writer)?,
        identities: staging.writer(opts.writer)?,
        devices: staging.writer(opts.writer)?,
        device_checks: staging.writer(opts.writer)?,
        policies: staging.writer(opts.writer)?,
    };
    let (tx, rx) = mpsc::channel::<ToWriter>(1024);
    let (previous, ignored_reason) = match opts.incremental {
        Some(_) => open_previous(opts, client, &api, local_root)?,
        None => (None, None),
    };
    let incremental = opts.incremental.map(|_| IncrementalStats {
        previous_snapshot: previous.as_ref().map(|p| p.manifest.snapshot_id.clone()),
        ignored_reason,
        ..Default::default()
    });
    let for_writer = previous.clone();
    let budget = *deadline;
    let writer_task = tokio::task::spawn_blocking(move || write_all(writers, rx, for_writer, incremental, budget));
    let now = chrono::Utc::now();

    // People are read back from the spill file and enriched with a bounded window; the
    // client's semaphore bounds requests in flight, the window bounds memory.
    let window = client.concurrency() * 2 + 8;
    let people = read_spill(&listed.spill)?;
    let mut enriched = futures::stream::iter(people)
        .map(|p| {
            let (api, previous) = (&api, previous.as_deref());
            async move {
                let p = p?;
                let origin = match (previous, opts.incremental) {
                    (Some(prev), Some(refresh_after)) => {
                        let fingerprint = p.fingerprint();
                        let before = prev.lookup(&p.id).map(|x| (x.fingerprint, x.enriched_at));
                        match decide(before, &fingerprint, now, refresh_after) {
                            Origin::Reused => {
                                let enriched_at = before.map(|(_, t)| t);
                                let person = EnrichedPerson {
                                    person: p,
                                    training_fetch: FetchStatus::Ok,
                                    background_check_fetch: FetchStatus::Ok,
                                    policies_fetch: api.has_policies().then_some(FetchStatus::Ok),
                                    list_fingerprint: fingerprint,
                                    enriched_at,
                                };
                                let e = Enriched {
                                    person,
                                    trainings: Vec::new(),
                                    background_checks: Vec::new(),
                                    policies: Vec::new(),
                                };
                                return Ok((e, Origin::Reused));
                            }
                            other => other,
                        }
                    }
                    (None, Some(_)) => Origin::New,
                    _ => Origin::Full,
                };
                enrich_person(api, p).await.map(|e| (e, origin))
            }
        })
        .buffer_unordered(window);
    let mut failure = None;
    // Real dialects name control owners by user id; this maps them to personnel ids. Only
    // the owners' user ids are kept (everyone's would grow with the workspace).
    let owners: HashSet<&str> = controls.iter().flat_map(|c| c.owner_user_ids.iter().map(String::as_str)).collect();
    let mut user_to_personnel: std::collections::HashMap<String, String> = Default::default();
    while let Some(item) = enriched.next().await {
        match item {
            Ok((mut e, origin)) => {
                let person = &mut e.person.person;
                if let (Some(index), None) = (&managers, &person.manager_id) {
                    match index.resolve(person) {
                        ManagerLink::Resolved(m) => person.manager_id = Some(m),
                        ManagerLink::Unresolved => listing_stats.unresolved_managers += 1,
                        ManagerLink::NoManager => {}
                    }
                }
                if let Some(u) = e.person.person.user_id.as_ref().filter(|u| owners.contains(u.as_str())) {
                    user_to_personnel.insert(u.clone(), e.person.person.id.clone());
                }
                progress.enriched(&e);
                if tx.send(ToWriter::Person(Box::new(e), origin)).await.is_err() {
                    break; // writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(enriched);
    drop(tx);
    let written =
        writer_task.await.map_err(|e| EtlError::new(FailureKind::CannotWrite, format!("writer thread failed: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let (tally, mut files) = written?;
    std::fs::remove_file(&listed.spill).ok();

    let e = &tally.enrichment;
    if !opts.max_failed_enrichments.allows(e.failed, e.people) {
        return Err(EtlError::new(
            FailureKind::Unavailable,
            format!(
                "{} of {} people could not be enriched after retries (allowed: {:?}); nothing was committed. Retry later, or raise --max-failed-enrichments to commit with those people marked failed",
                e.failed, e.people, opts.max_failed_enrichments
            ),
        ));
    }
    deadline.check(WRITING)?;
    for mut c in controls {
        c.resolve_owners(&user_to_personnel);
        control_writer.push(c).map_err(write_error)?;
    }
    files.push((Table::Controls, control_writer.finish().map_err(write_error)?));
    deadline.check(WRITING)?;
    if listing_stats.unresolved_managers > 0 {
        tracing::warn!(
            count = listing_stats.unresolved_managers,
            "people whose identity names a manager nobody listed has: manager_id left null"
        );
    }
    Ok((listing_stats, tally, files))
}

/// The page size the lists ask for: the user's, else the dialect's preferred one (v2's
/// cursor pages are read one after another, so larger pages save whole round trips), else
/// the built-in default.
fn page_size(opts: &RunOptions, api: &Api<'_>) -> u64 {
    match api.preferred_page_size() {
        Some(p) if !opts.page_size_given => p,
        _ => opts.page_size,
    }
}

/// The previous snapshot for an incremental run, or why there is none to use (logged).
/// `Err`: a manifest under the root fails validation (65): a full run would hide it.
fn open_previous(
    opts: &RunOptions,
    client: &DrataClient,
    api: &Api<'_>,
    local_root: &std::path::Path,
) -> Result<(Option<Arc<PreviousSnapshot>>, Option<String>), EtlError> {
    let base = display_url(client.base_url());
    let previous = PreviousSnapshot::open_latest(local_root, opts.workspace.as_deref(), api.dialect().name(), &base)?;
    // A snapshot from before policies were fetched holds no policy rows to reuse.
    let previous = previous.and_then(|p| match p {
        Some(p) if api.has_policies() && !p.has_table(Table::PersonnelPolicies) => Err(format!(
            "snapshot {} has no personnel_policies table (written by an older version of drata-etl), so it cannot stand in for policy acceptance",
            p.manifest.snapshot_id
        )),
        other => Ok(other),
    });
    Ok(match previous {
        Ok(Some(p)) => {
            tracing::info!(previous = %p.manifest.snapshot_id, reusable_people = p.len(), "incremental run: reusing unchanged people");
            (Some(Arc::new(p)), None)
        }
        Ok(None) => {
            tracing::info!("incremental run: no previous snapshot yet; fetching everyone");
            (None, None)
        }
        Err(reason) => {
            tracing::warn!(%reason, "incremental run: previous snapshot ignored; fetching everyone");
            (None, Some(reason))
        }
    })
}

fn write_all(
    mut w: Writers,
    mut rx: mpsc::Receiver<ToWriter>,
    previous: Option<Arc<PreviousSnapshot>>,
    incremental: Option<IncrementalStats>,
    deadline: RunDeadline,
) -> Result<(WriteTally, TableFiles), EtlError> {
    let mut tally = WriteTally { incremental, ..Default::default() };
    let mut reused = previous.as_ref().map(|p| p.reuse_marks());
    while let Some(msg) = rx.blocking_recv() {
        // A slow disk must not carry the run past its deadline: stop between people.
        deadline.check(WRITING)?;
        match msg {
            ToWriter::Person(e, origin) => {
                let mut e = *e;
                // List-level rows (real dialects): written for every person, reused or not.
                for c in std::mem::take(&mut e.person.person.compliance_checks) {
                    w.compliance.push(c).map_err(write_error)?;
                }
                e.person.person.listed_background_checks = None;
                for i in std::mem::take(&mut e.person.person.identities) {
                    w.identities.push(i).map_err(write_error)?;
                }
                for mut d in std::mem::take(&mut e.person.person.devices) {
                    for c in std::mem::take(&mut d.checks) {
                        w.device_checks.push(c).map_err(write_error)?;
                    }
                    w.devices.push(d).map_err(write_error)?;
                }
                if let Some(inc) = tally.incremental.as_mut() {
                    match origin {
                        Origin::Reused => {
                            inc.reused += 1;
                            if let (Some(p), Some(marks)) = (&previous, reused.as_mut()) {
                                p.mark_reused(marks, &e.person.person.id);
                            }
                        }
                        Origin::Changed => inc.changed += 1,
                        Origin::Stale => inc.stale += 1,
                        Origin::New | Origin::Full => inc.new += 1,
                    }
                }
                let t = &mut tally.enrichment;
                t.people += 1;
                t.training_rows += e.trainings.len() as u64;
                t.background_check_rows += e.background_checks.len() as u64;
                let p = &e.person;
                if p.any_fetch(FetchStatus::Gone) {
                    t.gone += 1;
                }
                if p.any_fetch(FetchStatus::Failed) {
                    t.failed += 1;
                }
                let status = p.person.compliance_status.clone().unwrap_or_else(|| "(none)".into());
                *tally.compliance.entry(status).or_default() += 1;
                if p.person.is_active == Some(false) {
                    tally.inactive += 1;
                } else {
                    tally.active += 1;
                }
                for r in e.trainings {
                    w.training.push(r).map_err(write_error)?;
                }
                for r in e.background_checks {
                    w.checks.push(r).map_err(write_error)?;
                }
                for r in e.policies {
                    w.policies.push(r).map_err(write_error)?;
                }
                w.personnel.push(e.person).map_err(write_error)?;
            }
        }
    }
    deadline.check(WRITING)?;
    if let (Some(prev), Some(reused)) = (previous, reused) {
        let (t, c, _) = prev.copy_children(&reused, &mut w.training, &mut w.checks, &mut w.policies).map_err(|e| {
            EtlError::new(
                FailureKind::CannotWrite,
                format!("reusing rows from the previous snapshot failed: {e}; rerun without --incremental"),
            )
        })?;
        tally.enrichment.training_rows += t;
        tally.enrichment.background_check_rows += c;
    }
    // Each table's last file is closed (and fsynced) in turn, checking the time between.
    let finish = |table: Table, files: std::io::Result<Vec<crate::load::FileEntry>>| {
        let files = files.map_err(write_error)?;
        deadline.check(WRITING)?;
        Ok::<_, EtlError>((table, files))
    };
    deadline.check(WRITING)?;
    let files = vec![
        finish(Table::Personnel, w.personnel.finish())?,
        finish(Table::PersonnelTraining, w.training.finish())?,
        finish(Table::PersonnelBackgroundChecks, w.checks.finish())?,
        finish(Table::PersonnelComplianceChecks, w.compliance.finish())?,
        finish(Table::PersonnelIdentities, w.identities.finish())?,
        finish(Table::PersonnelDevices, w.devices.finish())?,
        finish(Table::PersonnelDeviceChecks, w.device_checks.finish())?,
        finish(Table::PersonnelPolicies, w.policies.finish())?,
    ];
    Ok((tally, files))
}
