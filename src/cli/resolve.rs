//! Raw CLI arguments and environment -> one validated `RunOptions`.
//!
//! Everything a user can get wrong is caught here with a message that says what to do
//! (exit 64): a malformed base URL, plain http to a non-loopback host, a missing key, a bad
//! `--run-at`. The key is read from `DRATA_API_KEY` or a file, never from argv.
//! The `--config` file layer itself lives in `cli::file`; this module only needs to know
//! which settings came from it (for the key's precedence).

use crate::cli::file::{Source, Sources};
use crate::cli::{ConnectionArgs, LineageArgs, Region, RunArgs, Tuning};
use crate::drata::dialect::ApiChoice;
use crate::drata::retry::Backoff;
use crate::drata::{ApiKey, ClientConfig};
use crate::error::EtlError;
use crate::extract::enrich::FailureBudget;
use crate::lineage::LineageOptions;
use crate::load::{TableFormat, WriterOptions};
use crate::run::RunOptions;
use crate::store::StoreOptions;
use chrono::{DateTime, SubsecRound, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

pub const API_KEY_ENV: &str = "DRATA_API_KEY";
/// `--base-url`'s built-in default (the US host).
pub const DEFAULT_BASE_URL: &str = Region::Us.base_url();

/// The base URL to use: `--base-url` when it was given explicitly (flag, environment or
/// config file), else the `--region`'s host, else `--base-url`'s default.
pub fn effective_base_url(base_url: &str, region: Option<Region>, source: &Source) -> String {
    let explicit = match source {
        Source::Flag(_) | Source::Env(_) | Source::File(_) => true,
        Source::Default => false,
        // Built without the config layer (tests, library callers): a non-default value
        // can only have been given on purpose.
        Source::Unset => base_url.trim_end_matches('/') != DEFAULT_BASE_URL,
    };
    match region {
        Some(r) if !explicit => r.base_url().to_string(),
        _ => base_url.to_string(),
    }
}

/// Validate `--base-url`: scheme and host; https unless the host is loopback. A trailing
/// `/public` (a common copy-paste from API docs) is tolerated and removed.
pub fn parse_base_url(raw: &str) -> Result<Url, EtlError> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        EtlError::usage(format!(
            "--base-url '{raw}' is not a URL ({e}); use the API host, e.g. https://public-api.drata.com"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(EtlError::usage(format!(
            "--base-url '{raw}' must be an http(s) URL with a host, e.g. https://public-api.drata.com"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EtlError::usage(
            "--base-url must not contain credentials; pass the key in DRATA_API_KEY or --api-key-file",
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(EtlError::usage(format!(
            "--base-url uses plain http to {}: the API key would cross the network unencrypted. Use https (plain http is allowed only for loopback hosts)",
            url.host_str().unwrap_or("?")
        )));
    }
    let path = url.path().trim_end_matches('/');
    if !(path.is_empty() || path == "/public") {
        return Err(EtlError::usage(format!(
            "--base-url '{raw}' has a path ({path}); give only scheme and host (the tool adds /public/...)"
        )));
    }
    let mut url = url;
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Where the API key came from: shown by `config show`, never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Read from this file; `via` says where the path came from.
    File { path: PathBuf, via: Source },
    /// The `DRATA_API_KEY` environment variable.
    Env,
    /// Printed by `--api-key-command`; `via` says where the command came from (the command
    /// itself is never shown: it may carry a token).
    Command { via: Source },
}

impl KeySource {
    pub fn describe(&self) -> String {
        match self {
            KeySource::File { path, via } => format!("key file {} ({})", path.display(), via.describe()),
            KeySource::Env => format!("env {API_KEY_ENV}"),
            KeySource::Command { via } => format!("api_key_command ({})", via.describe()),
        }
    }
}

fn key_from_file(path: &Path) -> Result<ApiKey, EtlError> {
    warn_if_readable_by_others(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| EtlError::usage(format!("cannot read --api-key-file {}: {e}", path.display())))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(EtlError::usage(format!("--api-key-file {} is empty", path.display())));
    }
    Ok(ApiKey::new(key))
}

/// Where the key will come from, decided without reading it (so `config show` never runs
/// the key command): by precedence flags > environment > config file, a key file or key
/// command given by flag or environment, then `DRATA_API_KEY`, then the config file's
/// `api_key_file` or `api_key_command`. A file and a command at the same level is a usage
/// error (which one was meant is unclear).
#[derive(Debug, Clone)]
pub struct KeyPlan {
    source: KeySource,
    command: Option<(String, std::time::Duration)>,
}

impl KeyPlan {
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Read the key (run the command, read the file or the environment).
    pub fn load(&self) -> Result<ApiKey, EtlError> {
        match (&self.source, &self.command) {
            (KeySource::Command { .. }, Some((cmd, timeout))) => super::key_command::key_from_command(cmd, *timeout),
            (KeySource::File { path, .. }, _) => key_from_file(path),
            _ => match std::env::var(API_KEY_ENV) {
                Ok(k) if !k.trim().is_empty() => Ok(ApiKey::new(k.trim())),
                _ => Err(no_key()),
            },
        }
    }
}

fn no_key() -> EtlError {
    EtlError::usage(format!(
        "no API key: set {API_KEY_ENV}, pass --api-key-file PATH (a file holding only the key) or --api-key-command CMD (prints the key). Create a key in Drata under Settings > API Keys"
    ))
}

/// The key plan for a connection, honouring where each key setting came from.
pub fn key_plan(c: &ConnectionArgs, sources: &Sources) -> Result<KeyPlan, EtlError> {
    let given = |name: &str| match sources.get(name) {
        Source::File(_) | Source::Unset | Source::Default => None,
        other => Some(other.clone()),
    };
    let in_file = |name: &str| matches!(sources.get(name), Source::File(_));
    let file = |via: Source| {
        c.api_key_file
            .as_ref()
            .map(|path| KeyPlan { source: KeySource::File { path: path.clone(), via }, command: None })
    };
    let command = |via: Source| {
        c.api_key_command.as_ref().map(|cmd| KeyPlan {
            source: KeySource::Command { via },
            command: Some((cmd.clone(), c.api_key_command_timeout)),
        })
    };
    let both = |level: &str| {
        EtlError::usage(format!("both api_key_file and api_key_command are set ({level}); keep one of them"))
    };
    match (given("api_key_file"), given("api_key_command")) {
        (Some(_), Some(_)) => return Err(both("flags or environment")),
        (Some(via), None) => return Ok(file(via).expect("a given file")),
        (None, Some(via)) => return Ok(command(via).expect("a given command")),
        (None, None) => {}
    }
    if std::env::var(API_KEY_ENV).is_ok_and(|k| !k.trim().is_empty()) {
        return Ok(KeyPlan { source: KeySource::Env, command: None });
    }
    let config = sources.config_file.clone().unwrap_or_default();
    match (
        in_file("api_key_file") && c.api_key_file.is_some(),
        in_file("api_key_command") && c.api_key_command.is_some(),
    ) {
        (true, true) => Err(both("config file")),
        (true, false) => Ok(file(Source::File(config)).expect("a file")),
        (false, true) => Ok(command(Source::File(config)).expect("a command")),
        (false, false) => Err(no_key()),
    }
}

/// The key for a parsed command, and where it came from.
pub fn api_key_for(c: &ConnectionArgs, sources: &Sources) -> Result<(ApiKey, KeySource), EtlError> {
    let plan = key_plan(c, sources)?;
    Ok((plan.load()?, plan.source))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the API key file is readable by other users; run chmod 600 on it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

pub fn parse_run_at(raw: Option<&str>) -> Result<DateTime<Utc>, EtlError> {
    match raw {
        None => Ok(Utc::now().trunc_subsecs(0)),
        Some(s) => DateTime::parse_from_rfc3339(s.trim()).map(|d| d.to_utc()).map_err(|e| {
            EtlError::usage(format!("--run-at '{s}' is not an RFC 3339 time ({e}); use e.g. 2026-01-31T02:00:00Z"))
        }),
    }
}

/// `--out`, which has no default: a flag, `DRATA_ETL_OUT` or `out` in the config file.
pub fn require_out(out: Option<&Path>) -> Result<&Path, EtlError> {
    out.ok_or_else(|| {
        EtlError::usage(
            "no output directory: pass --out DIR, set DRATA_ETL_OUT, or put `out = \"DIR\"` in the --config file",
        )
    })
}

/// The HTTP client settings a run uses.
pub fn client_config(base_url: Url, key: ApiKey, t: &Tuning) -> ClientConfig {
    ClientConfig {
        base_url,
        api_key: key,
        concurrency: t.concurrency as usize,
        request_timeout: t.request_timeout,
        connect_timeout: t.request_timeout.min(Duration::from_secs(10)),
        max_attempts: t.max_retries,
        max_rate_limited_attempts: t.max_retries.max(30),
        backoff: Backoff { base: Duration::from_millis(200), cap: Duration::from_secs(30) },
        deadline: t.deadline.map(|d| tokio::time::Instant::now() + d),
        max_wait: t.max_wait,
        max_rps: t.max_rps,
        adaptive_pacing: t.max_rps.is_none(),
        shared_pace_file: t.shared_pace_file.clone(),
    }
}

/// The HTTP client settings of `drata-etl check`: few, short retries, so it answers in
/// seconds (the run's own retry budget is for the hour-long job, not the preflight).
pub fn check_client_config(base_url: Url, key: ApiKey, request_timeout: Duration) -> ClientConfig {
    ClientConfig {
        base_url,
        api_key: key,
        concurrency: 4,
        request_timeout,
        connect_timeout: request_timeout.min(Duration::from_secs(10)),
        max_attempts: 3,
        max_rate_limited_attempts: 5,
        backoff: Backoff { base: Duration::from_millis(200), cap: Duration::from_secs(5) },
        deadline: None,
        // A preflight answers in seconds: a server asking to wait longer is the answer.
        max_wait: Duration::from_secs(30),
        max_rps: None,
        adaptive_pacing: true,
        shared_pace_file: None,
    }
}

/// What a run connects to and writes, besides its tuning: the parts `run` takes from its
/// connection and output flags, and `demo` from the simulator it starts.
pub struct RunSetup<'a> {
    pub base_url: Url,
    pub key: ApiKey,
    /// `--api`: the dialect to speak, or `None` to detect it.
    pub api: ApiChoice,
    pub out: &'a Path,
    pub store: StoreOptions,
    pub run_at: DateTime<Utc>,
    pub workspace: Option<&'a str>,
}

/// The one function that builds a complete, validated `RunOptions` (shared by `run` and
/// `demo`); nothing patches the result afterwards.
pub fn run_options(s: RunSetup<'_>, t: &Tuning) -> Result<RunOptions, EtlError> {
    let workspace = s
        .workspace
        .map(crate::load::layout::validate_workspace)
        .transpose()
        .map_err(|e| EtlError::usage(format!("--workspace: {e}")))?;
    let max_failed_enrichments = FailureBudget::parse(&t.max_failed_enrichments)
        .map_err(|e| EtlError::usage(format!("--max-failed-enrichments: {e}")))?;
    // clap checks these for the command line; `Tuning` built in code is checked here too,
    // because an out-of-range value panics later (`1 / max_rps`, `now + deadline`).
    check_tuning(t)?;
    let client = client_config(s.base_url, s.key, t);
    Ok(RunOptions {
        client,
        out: s.out.to_path_buf(),
        store: s.store,
        run_at: s.run_at,
        workspace,
        page_size: t.page_size,
        page_size_given: false,
        max_list_passes: t.max_list_passes,
        max_failed_enrichments,
        incremental: t.incremental.then_some(t.refresh_after),
        writer: WriterOptions::default(),
        api: s.api,
        table_format: crate::load::TableFormat::Parquet,
        lineage: None,
    })
}

/// The duration and rate ranges of `crate::cli::limits`, for a `Tuning` not built by clap; the message names
/// the flag and the range (exit 64).
pub fn check_tuning(t: &Tuning) -> Result<(), EtlError> {
    use crate::cli::{check_duration, check_f64, limits};
    fn flag(name: &'static str) -> impl Fn(String) -> EtlError {
        move |e| EtlError::usage(format!("--{name}: {e}"))
    }
    check_duration(t.request_timeout, limits::REQUEST_TIMEOUT).map_err(flag("request-timeout"))?;
    if let Some(d) = t.deadline {
        check_duration(d, limits::DEADLINE).map_err(flag("deadline"))?;
    }
    check_duration(t.max_wait, limits::MAX_WAIT).map_err(flag("max-wait"))?;
    check_duration(t.refresh_after, limits::REFRESH_AFTER).map_err(flag("refresh-after"))?;
    if let Some(r) = t.max_rps {
        check_f64(r, limits::MAX_RPS).map_err(flag("max-rps"))?;
    }
    Ok(())
}

/// The API host and key the connection flags name (shared by `run` and `check`).
pub fn connection(c: &ConnectionArgs, sources: &Sources) -> Result<(Url, ApiKey), EtlError> {
    let base_url = parse_base_url(&effective_base_url(&c.base_url, c.region, sources.get("base_url")))?;
    let (key, _) = api_key_for(c, sources)?;
    Ok((base_url, key))
}

/// `run`'s arguments (flags > environment > `--config` file > defaults, as `sources`
/// records) -> the run's options.
pub fn from_run_args(a: &RunArgs, sources: &Sources) -> Result<RunOptions, EtlError> {
    let (base_url, key) = connection(&a.connection, sources)?;
    let setup = RunSetup {
        base_url,
        key,
        api: a.connection.api.choice(),
        out: require_out(a.out.as_deref())?,
        store: a.store.options(a.tuning.max_retries, a.tuning.request_timeout),
        run_at: parse_run_at(a.run_at.as_deref())?,
        workspace: a.workspace.as_deref(),
    };
    let mut opts = run_options(setup, &a.tuning)?;
    opts.page_size_given = !matches!(sources.get("page_size"), Source::Default | Source::Unset);
    opts.table_format = table_format(a.table_format.format())?;
    opts.lineage = lineage_options(&a.lineage)?;
    Ok(opts)
}

/// `--table-format`: exit 64 for a format this build lacks. Delta goes wherever the output
/// does (a folder, or an object store with conditional creates for its log).
pub fn table_format(format: TableFormat) -> Result<TableFormat, EtlError> {
    format.supported()
}

/// `--openlineage-*` -> where events go; `None` when neither a URL nor a file is set.
pub fn lineage_options(a: &LineageArgs) -> Result<Option<LineageOptions>, EtlError> {
    let api_key = std::env::var(crate::lineage::API_KEY_ENV).ok().filter(|k| !k.trim().is_empty());
    let url = a
        .openlineage_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .map(|u| LineageOptions::parse_url(u, api_key.is_some()))
        .transpose()?;
    let file = a.openlineage_file.clone().filter(|f| !f.as_os_str().is_empty());
    if url.is_none() && file.is_none() {
        return Ok(None);
    }
    let namespace = a.openlineage_namespace.trim();
    if namespace.is_empty() {
        return Err(EtlError::usage("--openlineage-namespace is empty; leave it unset for the default (drata-etl)"));
    }
    Ok(Some(LineageOptions {
        url,
        file,
        namespace: namespace.to_string(),
        api_key: api_key.map(|k| ApiKey::new(k.trim())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(parse_base_url("https://public-api.drata.com").unwrap().as_str(), "https://public-api.drata.com/");
        assert_eq!(
            parse_base_url("https://public-api.drata.com/public/").unwrap().as_str(),
            "https://public-api.drata.com/"
        );
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("http://localhost:8080").is_ok());
        assert!(parse_base_url("http://[::1]:8080").is_ok());
        for bad in ["http://public-api.drata.com", "ftp://x", "not a url", "https://u:p@h.com", "https://h.com/api/v9"]
        {
            assert_eq!(parse_base_url(bad).unwrap_err().kind, crate::error::FailureKind::Usage, "{bad}");
        }
    }

    #[test]
    fn region_applies_unless_base_url_is_explicit() {
        let eu = Some(Region::Eu);
        assert_eq!(effective_base_url(DEFAULT_BASE_URL, eu, &Source::Default), "https://public-api.eu.drata.com");
        assert_eq!(effective_base_url(DEFAULT_BASE_URL, eu, &Source::Unset), "https://public-api.eu.drata.com");
        let mine = "http://127.0.0.1:9";
        assert_eq!(effective_base_url(mine, eu, &Source::Flag("--base-url".into())), mine);
        assert_eq!(effective_base_url(mine, eu, &Source::Env("DRATA_BASE_URL".into())), mine);
        assert_eq!(effective_base_url(mine, eu, &Source::Unset), mine);
        assert_eq!(effective_base_url(DEFAULT_BASE_URL, None, &Source::Default), DEFAULT_BASE_URL);
    }

    #[test]
    fn table_formats() {
        assert_eq!(table_format(TableFormat::Parquet).unwrap(), TableFormat::Parquet);
        let delta = table_format(TableFormat::Delta);
        if cfg!(feature = "delta") {
            assert_eq!(delta.unwrap(), TableFormat::Delta);
        } else {
            assert!(delta.unwrap_err().message.contains("built without the `delta` cargo feature"));
        }
    }

    #[test]
    fn run_at() {
        assert_eq!(parse_run_at(Some("2026-01-31T02:00:00+01:00")).unwrap().to_rfc3339(), "2026-01-31T01:00:00+00:00");
        assert!(parse_run_at(Some("yesterday")).is_err());
    }
}
