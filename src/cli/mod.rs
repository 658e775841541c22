//! Command-line interface (clap derive). Every flag has an environment variable so cron
//! lines and Airflow tasks can configure the job without long argv. The API key is never a
//! flag (argv is visible in `ps`): it comes from `DRATA_API_KEY` or `--api-key-file`.

pub mod file;
pub mod key_command;
pub mod resolve;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "drata-etl",
    version,
    about = "Snapshot a Drata workspace's personnel compliance data into Hive-partitioned Parquet"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr: text (for people) or json (one object per line, for log shippers).
    #[arg(long, global = true, env = "DRATA_ETL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter, e.g. info, debug, or drata_etl=debug,reqwest=info. A bare level keeps the Delta Lake libraries at warn; a filter with targets is taken as written.
    #[arg(long, global = true, env = "DRATA_ETL_LOG", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Snapshot a workspace: list personnel, enrich, write Parquet, commit with a manifest.
    Run(RunArgs),
    /// Preflight: a handful of cheap requests that prove the host, key and scopes work (exit 0, 64, 69 or 77).
    Check(CheckArgs),
    /// Inspect the effective configuration (flags > environment > --config file > defaults).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Re-read committed snapshots and check them against their manifests (exit 65 on any problem).
    Verify(VerifyArgs),
    /// The committed snapshots under an output root, with their row counts.
    List(ListArgs),
    /// Remove old snapshots (manifest first, then data), never the latest of a workspace, never during a run.
    Prune(PruneArgs),
    /// Run the whole pipeline against the embedded simulator (no key, no network needed).
    #[cfg(feature = "simulator")]
    Demo(DemoArgs),
    /// Serve the simulated Drata API (guide, v1 or v2 dialect) for benchmarks and manual testing.
    #[cfg(feature = "simulator")]
    Simulate(SimulateArgs),
    /// Answer the compliance questions about one committed snapshot (text, markdown, json or html).
    #[cfg(feature = "analytics")]
    Report(ReportArgs),
    /// What changed between two committed snapshots (default: the two latest).
    #[cfg(feature = "analytics")]
    Diff(DiffArgs),
    /// Compare a committed snapshot (default: the latest) with an HRIS export (CSV).
    #[cfg(feature = "analytics")]
    Reconcile(ReconcileArgs),
    /// Answers over time from every committed snapshot of a window: streaks, trend, audit-sample, offboarding, training-due.
    #[cfg(feature = "analytics")]
    #[command(subcommand)]
    History(HistoryCommand),
}

/// Where the API is and how to reach it: the connection flags `run` and `check` share.
#[derive(Debug, Args, Clone)]
pub struct ConnectionArgs {
    /// API scheme and host; the tool adds /public/... (plain http only for loopback hosts).
    #[arg(long, env = "DRATA_BASE_URL", default_value = resolve::DEFAULT_BASE_URL)]
    pub base_url: String,
    /// API dialect: auto (detect with cheap probes), guide, v1 or v2 (Drata's real public API v1/v2).
    #[arg(long, env = "DRATA_ETL_API", value_enum, default_value = "auto")]
    pub api: ApiArg,
    /// Drata region (us, eu, apac): sets the API host; an explicitly given --base-url wins.
    #[arg(long, env = "DRATA_ETL_REGION", value_enum)]
    pub region: Option<Region>,
    /// File holding the API key (takes precedence over DRATA_API_KEY).
    #[arg(long, env = "DRATA_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
    /// A command that prints the API key (run through sh, stdin closed; e.g. `vault kv get -field=key secret/drata`); takes precedence over DRATA_API_KEY. Never with --api-key-file.
    #[arg(long, env = "DRATA_API_KEY_COMMAND")]
    pub api_key_command: Option<String>,
    /// How long --api-key-command may take, e.g. 30s (1s to 10m).
    #[arg(long, env = "DRATA_API_KEY_COMMAND_TIMEOUT", default_value = "30s", value_parser = duration_in(limits::KEY_COMMAND_TIMEOUT))]
    pub api_key_command_timeout: std::time::Duration,
    /// A TOML file with defaults for any of these flags (keys are the flag names with _; never the API key itself). Flags and environment variables win over it.
    #[arg(long, env = "DRATA_ETL_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Output root: a directory, or s3://bucket/prefix, gs://bucket/prefix, az://container/prefix (required: flag, DRATA_ETL_OUT or `out` in the --config file).
    #[arg(long, env = "DRATA_ETL_OUT")]
    pub out: Option<PathBuf>,
    /// Logical run time (RFC 3339) naming the snapshot; a rerun with the same value replaces it. Default: now (UTC, whole seconds).
    #[arg(long, env = "DRATA_ETL_RUN_AT")]
    pub run_at: Option<String>,
    /// A label for the workspace, recorded in the manifest, the files' metadata and the partition path (workspace=LABEL), so several workspaces can share one output root.
    #[arg(long, env = "DRATA_ETL_WORKSPACE")]
    pub workspace: Option<String>,
    /// Progress on stderr: auto (only when stderr is a terminal), always (plain lines when it is not), never.
    #[arg(long, env = "DRATA_ETL_PROGRESS", value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// parquet: Hive-partitioned Parquet with the tool's manifests; delta: the same files, and each table folder also a Delta Lake table (one Delta commit per snapshot; folders and object stores).
    #[arg(long, env = "DRATA_ETL_TABLE_FORMAT", value_enum, default_value = "parquet")]
    pub table_format: TableFormatArg,
    /// Write Prometheus textfile-collector metrics here (atomically) when the run ends, on success and on failure.
    #[arg(long, env = "DRATA_ETL_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
    #[command(flatten)]
    pub tuning: Tuning,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub lineage: LineageArgs,
}

/// Where the run's OpenLineage events go (START, then COMPLETE or FAIL). Delivery never
/// changes the run's outcome. A bearer token for the receiver comes only from the
/// environment (DRATA_ETL_OPENLINEAGE_API_KEY), never a flag or the config file.
#[derive(Debug, Args, Clone)]
pub struct LineageArgs {
    /// POST OpenLineage run events as JSON to this endpoint, e.g. http://marquez:5000/api/v1/lineage (a URL without a path gets /api/v1/lineage). A receiver that is down, slow (5s) or answers non-2xx gives a warning, never a failed run.
    #[arg(long, env = "DRATA_ETL_OPENLINEAGE_URL")]
    pub openlineage_url: Option<String>,
    /// Append OpenLineage run events to this file, one JSON object per line (created if absent).
    #[arg(long, env = "DRATA_ETL_OPENLINEAGE_FILE")]
    pub openlineage_file: Option<PathBuf>,
    /// The OpenLineage job namespace; the job is named after --workspace (else the API host).
    #[arg(long, env = "DRATA_ETL_OPENLINEAGE_NAMESPACE", default_value = crate::lineage::DEFAULT_NAMESPACE)]
    pub openlineage_namespace: String,
}

/// How to reach an object store when --out is s3://, gs:// or az:// (credentials never come
/// from flags: each cloud's environment variables and config chain supply them).
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// An S3-compatible endpoint for s3:// outputs (MinIO, Ceph, R2, a local test server), e.g. http://127.0.0.1:9000.
    #[arg(long, env = "DRATA_ETL_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Object stores: how long the run's lock object stays valid without renewal (renewed every third of it); a killed run blocks its workspace at most this long (1s to 1h).
    #[arg(long, env = "DRATA_ETL_LOCK_LEASE", default_value = "2m", value_parser = duration_in(limits::LOCK_LEASE))]
    pub lock_lease: std::time::Duration,
    /// Object stores: files larger than this many bytes are uploaded in parts of this size (5 MiB to 5 GiB: S3's part limits).
    #[arg(long, env = "DRATA_ETL_UPLOAD_PART_SIZE", default_value_t = 8 << 20, value_parser = parse_part_size)]
    pub upload_part_size: u64,
}

impl StoreArgs {
    /// The store settings, with the run's retry budget and request timeout.
    pub fn options(&self, max_retries: u32, request_timeout: std::time::Duration) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            s3_endpoint: self.s3_endpoint.clone(),
            max_retries,
            request_timeout: request_timeout.max(std::time::Duration::from_secs(30)),
            lock_lease: self.lock_lease.max(std::time::Duration::from_secs(1)),
            part_size: self.upload_part_size as usize,
        }
    }
}

/// `--api`: which dialect of the Drata API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiArg {
    Auto,
    Guide,
    V1,
    V2,
}

impl ApiArg {
    /// The forced dialect, or `None` for auto-detection.
    pub fn choice(self) -> crate::drata::dialect::ApiChoice {
        use crate::drata::dialect::Dialect;
        match self {
            ApiArg::Auto => None,
            ApiArg::Guide => Some(Dialect::Guide),
            ApiArg::V1 => Some(Dialect::V1),
            ApiArg::V2 => Some(Dialect::V2),
        }
    }
}

/// `--region`: Drata's hosting regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    Us,
    Eu,
    Apac,
}

impl Region {
    /// The region's API host (the one table of Drata's hosts).
    pub const fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://public-api.drata.com",
            Region::Eu => "https://public-api.eu.drata.com",
            Region::Apac => "https://public-api.apac.drata.com",
        }
    }
}

/// `simulate --dialect`: which dialect the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimDialectArg {
    Guide,
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormatArg {
    Parquet,
    Delta,
}

impl TableFormatArg {
    pub fn format(self) -> crate::load::TableFormat {
        match self {
            TableFormatArg::Parquet => crate::load::TableFormat::Parquet,
            TableFormatArg::Delta => crate::load::TableFormat::Delta,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Always,
    Never,
}

/// `drata-etl check`: the connection flags of `run`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Records asked for per list page; the check reports the cap the server echoes.
    #[arg(long, env = "DRATA_ETL_PAGE_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_size: u64,
    /// Timeout of one request, e.g. 30s (100ms to 1h).
    #[arg(long, env = "DRATA_ETL_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration_in(limits::REQUEST_TIMEOUT))]
    pub request_timeout: std::time::Duration,
    /// text: a table on stdout; json: one JSON object on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Also check the output root (a folder or object-store URL): it can be listed and written, and the store honours conditional puts.
    #[arg(long, env = "DRATA_ETL_OUT")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration of `run` (secrets masked) with where each value came from.
    Show(ConfigShowArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ConfigShowArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// toml (pasteable as a --config file; sources in comments) or json.
    #[arg(long, value_enum, default_value = "toml")]
    pub format: ShowFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Toml,
    Json,
}

/// Where the committed snapshots are; shared by verify, list and prune.
#[derive(Debug, Args, Clone)]
pub struct RootArgs {
    /// Output root directory or object-store URL (as given to `run`).
    #[arg(long, env = "DRATA_ETL_OUT")]
    pub out: Option<PathBuf>,
    /// Only this workspace's snapshots (default: every workspace under the root).
    #[arg(long, env = "DRATA_ETL_WORKSPACE")]
    pub workspace: Option<String>,
    /// A TOML config file (as for `run`); only `out`, `workspace` and the object-store settings are used here.
    #[arg(long, env = "DRATA_ETL_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl RootArgs {
    /// Store settings for reading commands: the default retry budget.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        self.store.options(8, std::time::Duration::from_secs(60))
    }
}

#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// A snapshot id (e.g. 20260131T020000Z), `latest` (per workspace) or `all`.
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
}

#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// text: an aligned table; json: one JSON array.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("retention").required(true).args(["keep_days", "keep"])))]
pub struct PruneArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Remove snapshots whose run time is more than N days ago, N from 0 to 36500 (the latest is always kept).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub keep_days: Option<u32>,
    /// Keep the N newest snapshots per workspace (N >= 1), remove the rest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Limits shared by `run` and `demo`.
#[derive(Debug, Args, Clone)]
pub struct Tuning {
    /// Most requests in flight at once (pages and per-person calls share this budget).
    #[arg(long, env = "DRATA_ETL_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Records asked for per list page (the server may cap it; its echoed limit is used).
    #[arg(long, env = "DRATA_ETL_PAGE_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_size: u64,
    /// Timeout of one request, e.g. 30s (100ms to 1h).
    #[arg(long, env = "DRATA_ETL_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration_in(limits::REQUEST_TIMEOUT))]
    pub request_timeout: std::time::Duration,
    /// Give up (exit 75, nothing committed) if the run is not done after this long, e.g. 50m (1s to 7d). Default: no deadline.
    #[arg(long, env = "DRATA_ETL_DEADLINE", value_parser = duration_in(limits::DEADLINE))]
    pub deadline: Option<std::time::Duration>,
    /// The longest wait the server may ask for (Retry-After, an exhausted quota's reset) that the run sits through; a longer one ends it at once (exit 75, nothing committed) with the time to retry (0s to 7d).
    #[arg(long, env = "DRATA_ETL_MAX_WAIT", default_value = "15m", value_parser = duration_in(limits::MAX_WAIT))]
    pub max_wait: std::time::Duration,
    /// Attempts per request on server errors, timeouts and cut connections.
    #[arg(long, env = "DRATA_ETL_MAX_RETRIES", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_retries: u32,
    /// A fixed ceiling on requests per second, 0.01 to 10000 (default: adaptive pacing from 429s and rate-limit headers).
    #[arg(long, env = "DRATA_ETL_MAX_RPS", value_parser = f64_in(limits::MAX_RPS))]
    pub max_rps: Option<f64>,
    /// A file (created if absent) in which every run naming it keeps one shared pace: runs from one machine share its source IP's rate limit, so they pace as one client (with --max-rps, the ceiling is for all of them together).
    #[arg(long, env = "DRATA_ETL_SHARED_PACE_FILE")]
    pub shared_pace_file: Option<PathBuf>,
    /// People whose enrichment may still fail after retries before the run refuses to commit: a count or a percentage (e.g. 1%).
    #[arg(long, env = "DRATA_ETL_MAX_FAILED_ENRICHMENTS", default_value = "0")]
    pub max_failed_enrichments: String,
    /// Bound on re-listing passes when the personnel list changes while it is paged.
    #[arg(long, env = "DRATA_ETL_MAX_LIST_PASSES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_list_passes: u32,
    /// Reuse the training and background-check rows of people whose list record is unchanged since the latest committed snapshot (of the same workspace and API) and younger than --refresh-after; fetch everyone else.
    #[arg(long, env = "DRATA_ETL_INCREMENTAL", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub incremental: bool,
    /// With --incremental: re-fetch child data older than this even when the person is unchanged (0s to 365d).
    #[arg(long, env = "DRATA_ETL_REFRESH_AFTER", default_value = "24h", value_parser = duration_in(limits::REFRESH_AFTER))]
    pub refresh_after: std::time::Duration,
}

#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// People in the simulated workspace (0 to 1000000).
    #[arg(long, default_value_t = 500, value_parser = usize_in(0, 1_000_000))]
    pub personnel: usize,
    /// Output root directory.
    #[arg(long, default_value = "drata-demo-out")]
    pub out: PathBuf,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated latency per request, in milliseconds, 0 to 60000 (a realistic API round trip, so the concurrency shows).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub latency_ms: u64,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, env = "DRATA_SIM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// People in the simulated workspace (0 to 10000000).
    #[arg(long, env = "DRATA_SIM_PERSONNEL", default_value_t = 1000, value_parser = usize_in(0, 10_000_000))]
    pub personnel: usize,
    /// Controls in the simulated workspace (0 to 100000).
    #[arg(long, env = "DRATA_SIM_CONTROLS", default_value_t = 80, value_parser = usize_in(0, 100_000))]
    pub controls: usize,
    #[arg(long, env = "DRATA_SIM_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Latency added to every response, in milliseconds (0 to 60000).
    #[arg(long, env = "DRATA_SIM_LATENCY_MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub latency_ms: u64,
    /// The key clients must send (default: sim-key).
    #[arg(long, env = "DRATA_SIM_API_KEY", default_value = "sim-key")]
    pub api_key: String,
    /// Scopes of that key, comma-separated (`policies:read` stands for v2's assigned-policies
    /// permission).
    #[arg(long, default_value = "personnel:read,controls:read,policies:read", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Token-bucket rate limit in requests per second, 0.01 to 100000 (429 with Retry-After beyond it).
    #[arg(long, value_parser = f64_in((0.01, 100_000.0)))]
    pub rate_limit: Option<f64>,
    /// Burst size of the rate limit (1 to 100000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate_burst: u32,
    /// Shape of that limiter: bucket (token bucket), penalty (the bucket, but once dry every request is refused for --rate-limit-penalty), window (rate x --rate-limit-window requests per fixed window), inflight (at most --rate-burst requests in flight).
    #[arg(long, value_enum, default_value = "bucket")]
    pub rate_limit_shape: RateShapeArg,
    /// Penalty shape: how long every request is refused once the bucket runs dry, in seconds (0.001 to 3600).
    #[arg(long, default_value_t = 1.0, value_parser = f64_in((0.001, 3600.0)))]
    pub rate_limit_penalty: f64,
    /// Window shape: the fixed window's length in seconds (0.001 to 86400).
    #[arg(long, default_value_t = 1.0, value_parser = f64_in((0.001, 86_400.0)))]
    pub rate_limit_window: f64,
    /// Whether responses carry X-RateLimit-Limit/-Remaining/-Reset (Retry-After on a 429 is always sent).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub rate_limit_headers: bool,
    /// Fraction of requests answered 502/503 with an HTML body.
    #[arg(long, default_value_t = 0.0, value_parser = f64_in((0.0, 1.0)))]
    pub html_error_rate: f64,
    /// Fraction of responses whose connection is cut mid-body.
    #[arg(long, default_value_t = 0.0, value_parser = f64_in((0.0, 1.0)))]
    pub cut_rate: f64,
    /// Fraction of 200 responses with a truncated JSON body.
    #[arg(long, default_value_t = 0.0, value_parser = f64_in((0.0, 1.0)))]
    pub truncate_rate: f64,
    /// Fraction of responses delayed by --slow-ms.
    #[arg(long, default_value_t = 0.0, value_parser = f64_in((0.0, 1.0)))]
    pub slow_rate: f64,
    /// Delay of a slow response, in milliseconds (0 to 3600000).
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub slow_ms: u64,
    /// Cap the page limit below 100 (the server echoes its own limit); 1 to 1000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_page_limit: Option<u32>,
    /// Drift: people inserted at the front per personnel page request (0 to 10000).
    #[arg(long, default_value_t = 0, value_parser = usize_in(0, 10_000))]
    pub drift_inserts: usize,
    /// Drift: people deleted behind the reader per personnel page request (0 to 10000).
    #[arg(long, default_value_t = 0, value_parser = usize_in(0, 10_000))]
    pub drift_deletes: usize,
    /// Drift stops after this many page requests (0 to 1000000).
    #[arg(long, default_value_t = 20, value_parser = usize_in(0, 1_000_000))]
    pub drift_events: usize,
    /// Fraction of people whose child endpoints answer 404 while they stay listed.
    #[arg(long, default_value_t = 0.0, value_parser = f64_in((0.0, 1.0)))]
    pub vanished_rate: f64,
    /// Fraction of people whose child endpoints always answer 503.
    #[arg(long, default_value_t = 0.0, value_parser = f64_in((0.0, 1.0)))]
    pub broken_rate: f64,
    /// Added to the personnel list's reported total (a server whose count is wrong); -1000000000 to 1000000000.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1_000_000_000..=1_000_000_000))]
    pub total_skew: i64,
    /// Answer 401 to every request.
    #[arg(long)]
    pub unauthorized: bool,
    /// Answer every request with a 200 HTML login page (like the app host).
    #[arg(long)]
    pub html_login: bool,
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// The API dialect to serve: guide (the integration guide's), v1 or v2 (Drata's real API).
    #[arg(long, env = "DRATA_SIM_DIALECT", value_enum, default_value = "guide")]
    pub dialect: SimDialectArg,
    /// Guide/v1: page the personnel list in an unstable order (pages repeat and skip people while the total stays put).
    #[arg(long)]
    pub unstable_order: bool,
    /// v2: the last page of each listing hands back the cursor it was sent instead of a null cursor.
    #[arg(long)]
    pub cursor_echo: bool,
}

/// `simulate --rate-limit-shape`.
#[cfg(feature = "simulator")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateShapeArg {
    Bucket,
    Penalty,
    Window,
    Inflight,
}

/// Output of `report` and `reconcile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyticsFormat {
    Text,
    Markdown,
    Json,
    /// One self-contained page (inline CSS and SVG charts, no external assets).
    Html,
}

/// Output of `diff`: as `report`, or the change table as Parquet (needs --output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
    Html,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReconcileKey {
    /// Drata's externalId = the HRIS external_id column.
    #[value(name = "external_id", alias = "external-id")]
    ExternalId,
    /// Emails, compared case-insensitively.
    Email,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// `latest` or a snapshot id (e.g. 20260131T020000Z).
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: AnalyticsFormat,
    /// People listed per list (counts are always exact); 0 lists everyone.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// The older snapshot id (default: the one before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// The newer snapshot id or `latest` (default: latest).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// People listed per list (counts are always exact); 0 lists everyone. Parquet always holds every change.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Write to this file (atomically) instead of stdout; required with --format parquet.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// The HRIS export (CSV with a header row; columns in the README and scripts/hris_sample.csv).
    #[arg(long)]
    pub hris: PathBuf,
    /// The column that joins the HRIS to Drata.
    #[arg(long, value_enum, default_value = "external_id")]
    pub key: ReconcileKey,
    /// `latest` or a snapshot id.
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: AnalyticsFormat,
    /// Rows listed per list (counts are always exact); 0 lists everything.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// The answers of `drata-etl history`.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Per person: current status, since when, days in that streak, transitions; alerts for non-compliance longer than --days.
    Streaks {
        #[command(flatten)]
        common: HistoryArgs,
        /// Alert on people non-compliant for more than this many days (5 or 5d; 0 to 36500).
        #[arg(long, default_value = "5", value_parser = days_arg)]
        days: u32,
    },
    /// Per snapshot: active headcount and compliant share, by department, employment type and failing check type (HTML: line charts).
    Trend {
        #[command(flatten)]
        common: HistoryArgs,
    },
    /// Audit populations for the window: current employees at its end, hires and leavers inside it (--table current|hires|leavers for CSV/Parquet).
    AuditSample {
        #[command(flatten)]
        common: HistoryArgs,
    },
    /// Leavers: first snapshot showing them inactive (and identity disconnection where known), lag over --max-lag, still active after their end date.
    Offboarding {
        #[command(flatten)]
        common: HistoryArgs,
        /// The longest acceptable lag after an end date (1d, 0d to 36500d).
        #[arg(long, default_value = "1d", value_parser = days_arg)]
        max_lag: u32,
    },
    /// Trainings and compliance checks expiring within --within days, and new hires not trained within 30 days of their start.
    TrainingDue {
        #[command(flatten)]
        common: HistoryArgs,
        /// The horizon (30d, 0d to 36500d).
        #[arg(long, default_value = "30d", value_parser = days_arg)]
        within: u32,
        /// Treat a completed training as valid for this long (e.g. 365d): training rows carry no expiry date of their own.
        #[arg(long, value_parser = days_arg)]
        training_valid_for: Option<u32>,
    },
}

/// Output of `history`: as `report`, plus CSV (one table: --table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    Text,
    Markdown,
    Json,
    /// One table (the first, or --table) as CSV.
    Csv,
    /// One self-contained page (inline CSS and SVG charts, no external assets).
    Html,
}

/// What every `history` answer takes.
#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// The window's first day (2026-01-01) or first snapshot id (default: the oldest snapshot).
    #[arg(long)]
    pub from: Option<String>,
    /// The window's last day (2026-03-31) or last snapshot id (default: the latest).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: HistoryFormat,
    /// Rows shown per table in text, Markdown and HTML (counts are always exact); 0 shows all. JSON, CSV and Parquet hold every row.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// The table --format csv and --output-parquet write (default: the answer's first).
    #[arg(long)]
    pub table: Option<String>,
    /// Also write that table as Parquet to this file (typed columns, for the warehouse).
    #[arg(long)]
    pub output_parquet: Option<PathBuf>,
}

/// A number of days: `5` or `5d`, 0 to 36500.
pub fn days_arg(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let digits = t.strip_suffix('d').unwrap_or(t);
    match digits.parse::<u32>() {
        Ok(n) if n <= 36_500 => Ok(n),
        Ok(_) => Err(format!("'{t}' is outside the accepted range 0d to 36500d")),
        Err(_) => Err(format!("'{t}' is not a number of days like 30d")),
    }
}

/// The accepted range of every number a user can give (flag, environment variable or
/// `--config` file: all three go through these parsers, so one check covers them). The
/// bounds keep every later sum safe (`now + deadline`, `1 / max_rps`, a lease added to a
/// timestamp) and reject values that cannot be meant (a zero timeout, a part S3 refuses).
pub mod limits {
    use std::time::Duration;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }
    const DAY: u64 = 24 * 3600;

    pub const REQUEST_TIMEOUT: (Duration, Duration) = (Duration::from_millis(100), secs(3600));
    pub const DEADLINE: (Duration, Duration) = (secs(1), secs(7 * DAY));
    pub const MAX_WAIT: (Duration, Duration) = (Duration::ZERO, secs(7 * DAY));
    pub const REFRESH_AFTER: (Duration, Duration) = (Duration::ZERO, secs(365 * DAY));
    pub const LOCK_LEASE: (Duration, Duration) = (secs(1), secs(3600));
    pub const KEY_COMMAND_TIMEOUT: (Duration, Duration) = (secs(1), secs(600));
    pub const MAX_RPS: (f64, f64) = (0.01, 10_000.0);
    /// S3's multipart limits (every part but the last at least 5 MiB, at most 5 GiB); GCS's
    /// XML multipart API has the same floor.
    pub const UPLOAD_PART_SIZE: (u64, u64) = (5 << 20, 5 << 30);
    /// TEST-ONLY, debug builds only: set to 1 to accept parts down to 1 KiB, for test servers
    /// configured to take them (moto with `S3_UPLOAD_PART_MIN_SIZE`), so multipart paths can
    /// be tested with small files. Release builds ignore it.
    pub const SMALL_PARTS_ENV: &str = "DRATA_ETL_TEST_SMALL_UPLOAD_PARTS";
}

/// Durations like `30s`, `500ms`, `10m`, `1h 30m`, or plain seconds. Never panics: a number
/// too large for a `Duration` is an error.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return std::time::Duration::try_from_secs_f64(secs)
                .map_err(|_| format!("'{s}' seconds is too long for a duration"));
        }
        return Err(format!("'{s}' is not a duration like 30s, 10m or 2h (it must be a finite, non-negative number)"));
    }
    humantime::parse_duration(s).map_err(|e| format!("'{s}' is not a duration like 30s, 10m or 2h: {e}"))
}

/// A short form of a range bound in the units `parse_duration` reads: `100ms`, `1h`, `7d`.
fn show(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match () {
        _ if d.subsec_nanos() != 0 || (secs == 0 && !d.is_zero()) => format!("{}ms", d.as_millis()),
        _ if secs != 0 && secs % 86_400 == 0 => format!("{}d", secs / 86_400),
        _ if secs != 0 && secs % 3600 == 0 => format!("{}h", secs / 3600),
        _ if secs != 0 && secs % 60 == 0 => format!("{}m", secs / 60),
        _ => format!("{secs}s"),
    }
}

/// Checks that `d` lies in `range` (both ends included); the message gives the range.
pub fn check_duration(d: std::time::Duration, range: (std::time::Duration, std::time::Duration)) -> Result<(), String> {
    let (min, max) = range;
    if d < min || d > max {
        return Err(format!("{} is outside the accepted range {} to {}", show(d), show(min), show(max)));
    }
    Ok(())
}

/// A clap value parser: a duration within `range`.
pub fn duration_in(
    range: (std::time::Duration, std::time::Duration),
) -> impl Fn(&str) -> Result<std::time::Duration, String> + Clone + Send + Sync + 'static {
    move |s| {
        let d = parse_duration(s)
            .map_err(|e| format!("{e}; the accepted range is {} to {}", show(range.0), show(range.1)))?;
        check_duration(d, range)
            .map(|()| d)
            .map_err(|_| format!("'{}' is outside the accepted range {} to {}", s.trim(), show(range.0), show(range.1)))
    }
}

/// Checks that `v` is a finite number within `range` (both ends included).
pub fn check_f64(v: f64, range: (f64, f64)) -> Result<(), String> {
    let (min, max) = range;
    if !(v.is_finite() && v >= min && v <= max) {
        return Err(format!("{v} is outside the accepted range {min} to {max}"));
    }
    Ok(())
}

/// A clap value parser: a finite number within `range`.
pub fn f64_in(range: (f64, f64)) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s| {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a number; the accepted range is {} to {}", range.0, range.1))?;
        check_f64(v, range)
            .map(|()| v)
            .map_err(|_| format!("'{}' is outside the accepted range {} to {}", s.trim(), range.0, range.1))
    }
}

/// A clap value parser: a count within `min..=max`.
pub fn usize_in(min: u64, max: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(min..=max)
}

/// `--upload-part-size`: bytes within S3's part limits (see `limits::SMALL_PARTS_ENV`).
pub fn parse_part_size(s: &str) -> Result<u64, String> {
    let n: u64 = s.trim().parse().map_err(|_| format!("'{s}' is not a whole number of bytes"))?;
    let (mut min, max) = limits::UPLOAD_PART_SIZE;
    // Test servers only, and only in debug builds: a release binary always keeps S3's floor.
    if cfg!(debug_assertions) && std::env::var_os(limits::SMALL_PARTS_ENV).is_some_and(|v| v == "1") {
        min = 1024;
    }
    if n < min || n > max {
        return Err(format!(
            "{n} is outside the accepted range {min} to {max} bytes (5 MiB to 5 GiB: S3 refuses smaller parts, and only when the upload completes, and larger ones)"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn history_day_counts() {
        assert_eq!(days_arg("30d"), Ok(30));
        assert_eq!(days_arg(" 5 "), Ok(5));
        assert_eq!(days_arg("0d"), Ok(0));
        assert!(days_arg("36501d").unwrap_err().contains("outside the accepted range 0d to 36500d"));
        for bad in ["1h", "d", "-1d", "one day", ""] {
            assert!(days_arg(bad).unwrap_err().contains("is not a number of days like 30d"), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("1.5").unwrap().as_millis(), 1500);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert!(parse_duration("soon").is_err());
        // Too large for a Duration, negative, not finite: errors, never a panic.
        for bad in ["1e20", "1e300", "-5", "NaN", "inf", "99999999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_name_the_accepted_range() {
        let timeout = duration_in(limits::REQUEST_TIMEOUT);
        assert_eq!(timeout("30s").unwrap().as_secs(), 30);
        assert_eq!(timeout("100ms").unwrap().as_millis(), 100);
        assert_eq!(timeout("1h").unwrap().as_secs(), 3600);
        for bad in ["1e20", "0", "99ms", "3601", "-1", "NaN"] {
            let e = timeout(bad).unwrap_err();
            assert!(e.contains("100ms to 1h"), "{bad}: {e}");
        }
        let deadline = duration_in(limits::DEADLINE);
        assert!(deadline("1e19").unwrap_err().contains("'1e19' is outside the accepted range 1s to 7d"));
        assert!(deadline("7d").is_ok() && deadline("1s").is_ok() && deadline("500ms").is_err());
        assert!(duration_in(limits::MAX_WAIT)("0s").is_ok());
        assert!(duration_in(limits::LOCK_LEASE)("1000000h").unwrap_err().contains("1s to 1h"));
        assert!(duration_in(limits::REFRESH_AFTER)("366d").unwrap_err().contains("0s to 365d"));
        assert_eq!(show(std::time::Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(std::time::Duration::from_secs(90)), "90s");

        let rps = f64_in(limits::MAX_RPS);
        assert_eq!(rps("8").unwrap(), 8.0);
        for bad in ["1e-300", "0", "-1", "NaN", "inf", "1e5", "fast"] {
            let e = rps(bad).unwrap_err();
            assert!(e.contains("0.01 to 10000") && !e.contains("0.0000"), "{bad}: {e}");
        }
        assert!(f64_in((0.0, 1.0))("1.5").is_err() && f64_in((0.0, 1.0))("0").is_ok());

        for bad in ["1024", "5242879", "5368709121", "-1", "1e9", "big"] {
            assert!(parse_part_size(bad).is_err(), "{bad}");
        }
        assert!(parse_part_size("1024").unwrap_err().contains("5242880 to 5368709120"));
        assert_eq!(parse_part_size("5242880").unwrap(), 5 << 20);
        assert_eq!(parse_part_size("5368709120").unwrap(), 5 << 30);
    }
}
