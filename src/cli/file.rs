//! `--config FILE`: a TOML layer between environment variables and built-in defaults.
//!
//! Precedence is flags > environment > file > defaults. clap resolves flags, environment
//! and defaults; this module asks clap where each value came from
//! (`ArgMatches::value_source`) and, for every argument clap took from a default or left
//! unset, appends the file's value as `--flag=value` and parses again. File values thus go
//! through the same value parsers, ranges and messages as flags, and there is one list of
//! settings (the `run` command's flags), not two.
//!
//! Keys are the `run` flags' names with `_` (`page_size`; `page-size` is accepted too) plus
//! `log_format` and `log_level`. An unknown key, a table or an array, and above all the API key
//! itself are usage errors (exit 64) that name the key. Relative paths in the file are
//! resolved against the file's folder, so a cron line's working directory does not matter.
//! The file's text never appears in an error message (it may sit next to secrets).

use crate::cli::Cli;
use crate::error::EtlError;
use clap::parser::{ArgMatches, ValueSource};
use clap::{Arg, CommandFactory, FromArgMatches};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Keys whose values are file paths (resolved against the config file's folder).
const PATH_KEYS: [&str; 5] = ["out", "api_key_file", "metrics_file", "shared_pace_file", "openlineage_file"];
/// Keys that would put a secret into the file.
const SECRET_KEYS: [&str; 6] = ["api_key", "key", "drata_api_key", "token", "api_token", "bearer"];
/// Arguments that are not settings.
const NOT_SETTINGS: [&str; 3] = ["help", "version", "config"];

/// Where one effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, e.g. `--page-size`.
    Flag(String),
    /// An environment variable, e.g. `DRATA_ETL_PAGE_SIZE`.
    Env(String),
    /// The `--config` file.
    File(PathBuf),
    /// The built-in default.
    Default,
    /// Not set anywhere (an optional setting).
    Unset,
}

impl Source {
    /// A short human description: `flag --out`, `env DRATA_ETL_OUT`, `file /etc/x.toml`.
    pub fn describe(&self) -> String {
        match self {
            Source::Flag(f) => format!("flag {f}"),
            Source::Env(v) => format!("env {v}"),
            Source::File(p) => format!("file {}", p.display()),
            Source::Default => "default".into(),
            Source::Unset => "unset".into(),
        }
    }
}

/// Where every setting of the parsed command came from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub by_key: BTreeMap<String, Source>,
    /// Every setting's effective value as text (as a flag would carry it), in the order the
    /// command defines its arguments; `None` when unset. For `config show`.
    pub values: Vec<(String, Option<String>)>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
}

impl Sources {
    pub fn get(&self, key: &str) -> &Source {
        self.by_key.get(key).unwrap_or(&Source::Unset)
    }

    pub fn from_file(&self, key: &str) -> bool {
        matches!(self.get(key), Source::File(_))
    }
}

/// Why the command line could not be turned into a command.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own error (also `--help` and `--version`): print it as clap does.
    Clap(clap::Error),
    /// A problem with the config file (exit 64).
    Config(EtlError),
}

impl From<EtlError> for ParseError {
    fn from(e: EtlError) -> Self {
        ParseError::Config(e)
    }
}

/// A command's arguments by id, in definition order.
struct LeafArgs(Vec<(String, Arg)>);

impl FromIterator<(String, Arg)> for LeafArgs {
    fn from_iter<I: IntoIterator<Item = (String, Arg)>>(iter: I) -> Self {
        let mut v: Vec<(String, Arg)> = Vec::new();
        for (id, arg) in iter {
            if !v.iter().any(|(k, _)| *k == id) {
                v.push((id, arg));
            }
        }
        LeafArgs(v)
    }
}

impl LeafArgs {
    fn get(&self, id: &str) -> Option<&Arg> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, a)| a)
    }
    fn iter(&self) -> impl Iterator<Item = &(String, Arg)> {
        self.0.iter()
    }
    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
}

/// Parse argv with the config-file layer applied.
pub fn parse<I, T>(argv: I) -> Result<(Cli, Sources), ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut cmd = Cli::command();
    cmd.build();
    let first = cmd.clone().try_get_matches_from(&argv).map_err(ParseError::Clap)?;
    let (names, leaf_matches) = leaf(&first);
    let leaf_cmd = find_command(&cmd, &names);
    let leaf_args: LeafArgs = leaf_cmd
        .get_arguments()
        .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()))
        .map(|a| (a.get_id().to_string(), a.clone()))
        .collect();
    let has_config = leaf_cmd.get_arguments().any(|a| a.get_id() == "config");
    let config = if has_config { leaf_matches.get_one::<PathBuf>("config").cloned() } else { None };

    let Some(config) = config else {
        let cli = Cli::from_arg_matches(&first).map_err(ParseError::Clap)?;
        let sources = sources_of(&leaf_args, leaf_matches, leaf_matches, &BTreeMap::new(), None);
        return Ok((cli, sources));
    };

    let table = load_table(&config)?;
    let allowed = settings(&cmd);
    let dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let run_cmd = cmd.find_subcommand("run").expect("run subcommand");
    let mut from_file: BTreeMap<String, (OsString, OsString)> = BTreeMap::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (raw_key, value) in &table {
        let key = raw_key.replace('-', "_");
        if SECRET_KEYS.contains(&key.as_str()) {
            return Err(EtlError::usage(format!(
                "config file {}: key `{raw_key}` is not allowed: the API key never goes into the config file (files like it end up in backups and version control). Put the key alone in a file with chmod 600 and set `api_key_file`, or set DRATA_API_KEY",
                config.display()
            ))
            .into());
        }
        if value.is_table() {
            return Err(EtlError::usage(format!(
                "config file {}: `[{raw_key}]` is a table; this file has no sections: write `key = value` lines at the top level",
                config.display()
            ))
            .into());
        }
        if !allowed.contains(&key) {
            return Err(EtlError::usage(format!(
                "config file {}: unknown key `{raw_key}`; valid keys are: {}",
                config.display(),
                {
                    let mut sorted = allowed.clone();
                    sorted.sort();
                    sorted.join(", ")
                }
            ))
            .into());
        }
        if let Some(other) = seen.insert(key.clone(), raw_key.clone()) {
            return Err(EtlError::usage(format!(
                "config file {}: `{other}` and `{raw_key}` set the same setting; keep one",
                config.display()
            ))
            .into());
        }
        let Some(text) = value_text(&config, raw_key, &key, value, &dir)? else { continue };
        let arg = run_cmd.get_arguments().find(|a| a.get_id() == key.as_str()).expect("settings are run's arguments");
        let long = arg.get_long().unwrap_or(key.as_str()).to_string();
        let flag = if arg.get_action().takes_values() {
            let mut f = OsString::from(format!("--{long}="));
            f.push(&text);
            f
        } else if text == "true" {
            OsString::from(format!("--{long}"))
        } else {
            continue; // a switch set to false is its default
        };
        from_file.insert(key, (text, flag));
    }
    // Every value is checked as `run` would parse it, also those this command does not use
    // (`check` does not use `concurrency`, but a bad one would break the next run).
    let run_argv: Vec<OsString> = vec![argv.first().cloned().unwrap_or_else(|| "drata-etl".into()), "run".into()];
    let mut all = run_argv.clone();
    all.extend(from_file.values().map(|(_, f)| f.clone()));
    if let Err(e) = cmd.clone().try_get_matches_from(&all) {
        return Err(blame(&cmd, &run_argv, &config, &from_file, e).into());
    }
    // What this command uses and neither a flag nor the environment set.
    let injected: BTreeMap<String, (OsString, OsString)> = from_file
        .into_iter()
        .filter(|(key, _)| leaf_args.get(key).is_some())
        .filter(|(key, _)| {
            !matches!(leaf_matches.value_source(key), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
        })
        .collect();

    let mut full = argv.clone();
    full.extend(injected.values().map(|(_, f)| f.clone()));
    let second = match cmd.clone().try_get_matches_from(&full) {
        Ok(m) => m,
        Err(e) => return Err(blame(&cmd, &argv, &config, &injected, e).into()),
    };
    let cli = Cli::from_arg_matches(&second).map_err(ParseError::Clap)?;
    let (_, leaf_second) = leaf(&second);
    let sources = sources_of(&leaf_args, leaf_matches, leaf_second, &injected, Some(&config));
    Ok((cli, sources))
}

/// The innermost subcommand's names and matches.
fn leaf(m: &ArgMatches) -> (Vec<String>, &ArgMatches) {
    let mut names = Vec::new();
    let mut cur = m;
    while let Some((name, sub)) = cur.subcommand() {
        names.push(name.to_string());
        cur = sub;
    }
    (names, cur)
}

fn find_command<'a>(root: &'a clap::Command, names: &[String]) -> &'a clap::Command {
    let mut cur = root;
    for n in names {
        cur = cur.find_subcommand(n).expect("matched subcommand exists");
    }
    cur
}

/// Every key a config file may hold: the `run` command's settings (incl. the global log
/// flags), in definition order. `built` is `Cli::command()` after `build()`.
pub fn settings(built: &clap::Command) -> Vec<String> {
    let run = built.find_subcommand("run").expect("run subcommand");
    let mut keys: Vec<String> = Vec::new();
    for id in run.get_arguments().map(|a| a.get_id().to_string()) {
        if !NOT_SETTINGS.contains(&id.as_str()) && !keys.contains(&id) {
            keys.push(id);
        }
    }
    keys
}

/// As `settings`, for callers without a built command.
pub fn setting_keys() -> Vec<String> {
    let mut cmd = Cli::command();
    cmd.build();
    settings(&cmd)
}

fn load_table(path: &Path) -> Result<toml::Table, EtlError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EtlError::usage(format!("cannot read the config file {} (--config / DRATA_ETL_CONFIG): {e}", path.display()))
    })?;
    toml::from_str::<toml::Table>(&text).map_err(|e| {
        // Line and column only: the offending text may be a secret someone pasted.
        let at = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" at line {line}, column {col}")
            })
            .unwrap_or_default();
        EtlError::usage(format!(
            "config file {} is not valid TOML{at}: {}. Write one `key = value` per line, e.g. page_size = 100",
            path.display(),
            e.message().trim()
        ))
    })
}

/// A file value as the text a flag would carry; `None` for a switch set to false.
fn value_text(
    config: &Path,
    raw_key: &str,
    key: &str,
    value: &toml::Value,
    dir: &Path,
) -> Result<Option<OsString>, EtlError> {
    let bad = |what: &str| {
        EtlError::usage(format!(
            "config file {}: `{raw_key}` must be a single value (string, number or boolean), not {what}",
            config.display()
        ))
    };
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => return Err(bad("an array")),
        toml::Value::Table(_) => return Err(bad("a table")),
    };
    // An object-store URL (`out = "s3://…"`) is not a path.
    if PATH_KEYS.contains(&key) && !text.contains("://") {
        let p = PathBuf::from(&text);
        let p = if p.is_relative() { dir.join(p) } else { p };
        return Ok(Some(p.into_os_string()));
    }
    Ok(Some(OsString::from(text)))
}

/// A second parse failed: find the file key whose value clap rejects and say so.
fn blame(
    cmd: &clap::Command,
    argv: &[OsString],
    config: &Path,
    injected: &BTreeMap<String, (OsString, OsString)>,
    whole: clap::Error,
) -> EtlError {
    for (key, (text, flag)) in injected {
        let mut one = argv.to_vec();
        one.push(flag.clone());
        if let Err(e) = cmd.clone().try_get_matches_from(&one) {
            return EtlError::usage(format!(
                "config file {}: `{key}` = {:?} is not accepted: {}",
                config.display(),
                text.to_string_lossy(),
                first_line(&e)
            ));
        }
    }
    EtlError::usage(format!("config file {}: {}", config.display(), first_line(&whole)))
}

fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    text.lines().next().unwrap_or_default().trim_start_matches("error: ").trim().to_string()
}

fn sources_of(
    leaf_args: &LeafArgs,
    first: &ArgMatches,
    second: &ArgMatches,
    injected: &BTreeMap<String, (OsString, OsString)>,
    config: Option<&Path>,
) -> Sources {
    let mut by_key = BTreeMap::new();
    for (id, arg) in leaf_args.iter() {
        let source = match first.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag(format!("--{}", arg.get_long().unwrap_or(id))),
            Some(ValueSource::EnvVariable) => {
                Source::Env(arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default())
            }
            _ if injected.contains_key(id) => Source::File(config.expect("injected only with a file").to_path_buf()),
            _ => match second.value_source(id) {
                Some(ValueSource::DefaultValue) => Source::Default,
                _ => Source::Unset,
            },
        };
        by_key.insert(id.clone(), source);
    }
    let values = leaf_args
        .keys()
        .map(|id| {
            let raw = second.get_raw(id).map(|vals| vals.map(|v| v.to_string_lossy()).collect::<Vec<_>>().join(","));
            (id.clone(), raw)
        })
        .collect();
    Sources { by_key, values, config_file: config.map(Path::to_path_buf) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("etl.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run_args(argv: &[&str]) -> Result<(crate::cli::RunArgs, Sources), ParseError> {
        let (cli, s) = parse(argv.iter().copied())?;
        match cli.command {
            Command::Run(a) => Ok((a, s)),
            other => panic!("{other:?}"),
        }
    }

    fn usage_message(r: Result<(crate::cli::RunArgs, Sources), ParseError>) -> String {
        match r {
            Err(ParseError::Config(e)) => {
                assert_eq!(e.kind, crate::error::FailureKind::Usage);
                e.message
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn file_fills_what_flags_leave_at_default() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write(
            tmp.path(),
            "out = \"data\"\npage-size = 50\nconcurrency = 4\nrequest_timeout = \"5s\"\nlog_format = \"json\"\n",
        );
        let cfg = cfg.to_str().unwrap();
        let (a, s) = run_args(&["drata-etl", "run", "--config", cfg, "--concurrency", "9"]).unwrap();
        assert_eq!(a.out.as_deref(), Some(tmp.path().join("data").as_path()), "relative to the file");
        assert_eq!(a.tuning.page_size, 50);
        assert_eq!(a.tuning.concurrency, 9, "the flag wins");
        assert_eq!(a.tuning.request_timeout, std::time::Duration::from_secs(5));
        assert_eq!(s.get("concurrency"), &Source::Flag("--concurrency".into()));
        assert!(s.from_file("page_size"));
        assert_eq!(s.get("max_retries"), &Source::Default);
        assert_eq!(s.get("deadline"), &Source::Unset);
        assert!(s.from_file("log_format"));
        let (cli, _) = parse(["drata-etl", "run", "--config", cfg]).unwrap();
        assert_eq!(cli.log_format, crate::cli::LogFormat::Json);
    }

    #[test]
    fn bad_files_are_usage_errors_naming_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write(tmp.path(), "page_sise = 5\n");
        let m = usage_message(run_args(&["drata-etl", "run", "--config", cfg.to_str().unwrap()]));
        assert!(m.contains("unknown key `page_sise`") && m.contains("page_size"), "{m}");
        let cfg = write(tmp.path(), "api_key = \"sekrit-abc\"\n");
        let m = usage_message(run_args(&["drata-etl", "run", "--config", cfg.to_str().unwrap()]));
        assert!(m.contains("api_key_file") && !m.contains("sekrit"), "{m}");
        let cfg = write(tmp.path(), "page_size = 0\n");
        let m = usage_message(run_args(&["drata-etl", "run", "--config", cfg.to_str().unwrap()]));
        assert!(m.contains("`page_size`"), "{m}");
        let cfg = write(tmp.path(), "out = \"x\"\nbase_url = \"sekrit-xyz\n");
        let m = usage_message(run_args(&["drata-etl", "run", "--config", cfg.to_str().unwrap()]));
        assert!(m.contains("line 2") && !m.contains("sekrit"), "{m}");
        let cfg = write(tmp.path(), "[run]\nout = \"x\"\n");
        let m = usage_message(run_args(&["drata-etl", "run", "--config", cfg.to_str().unwrap()]));
        assert!(m.contains("`[run]`") && m.contains("table"), "{m}");
        let m = usage_message(run_args(&["drata-etl", "run", "--config", "/nonexistent/etl.toml"]));
        assert!(m.contains("cannot read the config file"), "{m}");
    }

    #[test]
    fn settings_other_commands_do_not_use_are_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write(tmp.path(), "out = \"o\"\nconcurrency = 3\npage_size = 20\n");
        let (cli, s) = parse(["drata-etl", "check", "--config", cfg.to_str().unwrap()]).unwrap();
        let Command::Check(c) = cli.command else { panic!() };
        assert_eq!(c.page_size, 20);
        assert!(s.from_file("page_size"));
        assert_eq!(s.get("concurrency"), &Source::Unset);
    }
}
