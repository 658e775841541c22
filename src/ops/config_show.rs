//! `drata-etl config show`: the effective configuration of `run` after flags, environment,
//! `--config` file and defaults, with where each value came from, as TOML (pasteable as a
//! config file; the source of each value in a comment) or JSON.
//!
//! The API key is never printed: it shows as `***` plus where it came from (or why none was
//! found). The key file is read only to prove it is readable.

use crate::cli::{Cli, ConfigShowArgs, ShowFormat};
use crate::config::api_key_for;
use crate::config_file::{Source, Sources};
use clap::ValueEnum;
use std::fmt::Write;

/// One effective setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: &'static str,
    /// `None` when unset.
    pub value: Option<toml::Value>,
    pub source: Source,
}

fn s(v: impl Into<String>) -> Option<toml::Value> {
    Some(toml::Value::String(v.into()))
}

fn int(v: u64) -> Option<toml::Value> {
    Some(toml::Value::Integer(v as i64))
}

fn duration(d: std::time::Duration) -> Option<toml::Value> {
    s(humantime::format_duration(d).to_string())
}

fn enum_name<E: ValueEnum>(e: &E) -> Option<toml::Value> {
    e.to_possible_value().map(|p| toml::Value::String(p.get_name().to_string()))
}

fn path(p: &std::path::Path) -> Option<toml::Value> {
    s(p.display().to_string())
}

/// Every setting `run` would use, in a stable order (the order of `run --help`, roughly).
pub fn settings(cli_log: (&crate::cli::LogFormat, &str), a: &crate::cli::RunArgs, src: &Sources) -> Vec<Setting> {
    let t = &a.tuning;
    let entries: Vec<(&'static str, Option<toml::Value>)> = vec![
        ("base_url", s(&a.base_url)),
        ("out", a.out.as_deref().and_then(path)),
        ("workspace", a.workspace.clone().and_then(s)),
        ("run_at", a.run_at.clone().and_then(s)),
        ("api_key_file", a.api_key_file.as_deref().and_then(path)),
        ("concurrency", int(t.concurrency.into())),
        ("page_size", int(t.page_size)),
        ("request_timeout", duration(t.request_timeout)),
        ("deadline", t.deadline.and_then(duration)),
        ("max_retries", int(t.max_retries.into())),
        ("max_rps", t.max_rps.map(toml::Value::Float)),
        ("max_failed_enrichments", s(&t.max_failed_enrichments)),
        ("max_list_passes", int(t.max_list_passes.into())),
        ("progress", enum_name(&a.progress)),
        ("metrics_file", a.metrics_file.as_deref().and_then(path)),
        ("log_format", enum_name(cli_log.0)),
        ("log_level", s(cli_log.1)),
    ];
    entries.into_iter().map(|(key, value)| Setting { key, value, source: src.get(key).clone() }).collect()
}

/// The text `config show` prints on stdout.
pub fn show(cli: &Cli, args: &ConfigShowArgs, src: &Sources) -> String {
    let list = settings((&cli.log_format, &cli.log_level), &args.run, src);
    let key = api_key_for(args.run.api_key_file.as_deref(), src);
    let (key_value, key_source) = match &key {
        Ok((_, from)) => ("***", from.describe()),
        Err(e) => ("(none)", e.message.clone()),
    };
    match args.format {
        ShowFormat::Json => {
            let mut settings = serde_json::Map::new();
            for st in &list {
                let value = st
                    .value
                    .as_ref()
                    .map_or(serde_json::Value::Null, |v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null));
                settings.insert(st.key.into(), serde_json::json!({"value": value, "source": st.source.describe()}));
            }
            settings.insert("api_key".into(), serde_json::json!({"value": key_value, "source": key_source}));
            let v = serde_json::json!({
                "config_file": src.config_file.as_ref().map(|p| p.display().to_string()),
                "settings": settings,
            });
            format!("{v}\n")
        }
        ShowFormat::Toml => {
            let mut o = String::new();
            let _ = writeln!(
                o,
                "# drata-etl: effective configuration of `run` (precedence: flags > environment > config file > defaults)"
            );
            match &src.config_file {
                Some(p) => {
                    let _ = writeln!(o, "# config file: {}", p.display());
                }
                None => {
                    let _ = writeln!(o, "# config file: none (--config / DRATA_ETL_CONFIG)");
                }
            }
            for st in &list {
                match &st.value {
                    Some(v) => {
                        let _ = writeln!(o, "{} = {v}  # {}", st.key, st.source.describe());
                    }
                    None => {
                        let _ = writeln!(o, "# {} is not set", st.key);
                    }
                }
            }
            let _ = writeln!(o, "# api_key = \"{key_value}\"  # {key_source} (the key never goes into this file)");
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_file_setting_is_shown() {
        let mut cmd = Cli::command();
        cmd.build();
        let (cli, src) = crate::config_file::parse(["drata-etl", "run", "--out", "x"]).unwrap();
        let crate::cli::Command::Run(a) = &cli.command else { panic!() };
        let shown: Vec<&str> = settings((&cli.log_format, &cli.log_level), a, &src).iter().map(|s| s.key).collect();
        let mut shown_sorted = shown.clone();
        shown_sorted.sort();
        assert_eq!(shown_sorted, crate::config_file::settings(&cmd), "config show and the config file keys agree");
    }
}
