//! `drata-etl config show`: the effective configuration of `run` after flags, environment,
//! `--config` file and defaults, with where each value came from, as TOML (pasteable as a
//! config file; the source of each value in a comment) or JSON.
//!
//! Generic over the `run` flags: it shows what clap resolved for every setting the config
//! file accepts (`cli::file::settings`), so a new flag appears here without code.
//! The API key is never printed: it shows as `***` plus where it came from (or why none was
//! found). The key file is read only to prove it is readable.

use crate::cli::file::{setting_keys, Sources};
use crate::cli::resolve::key_plan;
use crate::cli::{ConfigShowArgs, ShowFormat};
use std::fmt::Write;

/// A setting's text as the TOML value a config file would hold.
fn toml_value(text: &str) -> toml::Value {
    if let Ok(i) = text.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if text.contains('.') {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return toml::Value::Float(f);
            }
        }
    }
    match text {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_string()),
    }
}

/// The text `config show` prints on stdout.
/// `drata-etl config show`.
pub fn config_show(args: &ConfigShowArgs, src: &Sources) -> Result<super::Outcome, crate::error::EtlError> {
    Ok(super::Outcome::done(show(args, src)))
}

pub fn show(args: &ConfigShowArgs, src: &Sources) -> String {
    let keys = setting_keys();
    // The key command is shown as set, not spelled out: it may carry a token.
    // A receiver's URL may carry credentials or a token in its query: shown without them.
    let values: Vec<(&String, Option<String>)> = keys
        .iter()
        .map(|k| {
            let v = src.values.iter().find(|(id, _)| id == k).and_then(|(_, v)| v.clone());
            let v = match k.as_str() {
                "api_key_command" => v.map(|_| "***".to_string()),
                "openlineage_url" => v.map(|u| {
                    url::Url::parse(&u).map_or_else(|_| "***".to_string(), |u| crate::redact::display_url(&u))
                }),
                _ => v,
            };
            (k, v)
        })
        .collect();
    let key = key_plan(&args.run.connection, src);
    let (key_value, key_source) = match &key {
        Ok(plan) => ("***", plan.source().describe()),
        Err(e) => ("(none)", e.message.clone()),
    };
    match args.format {
        ShowFormat::Json => {
            let mut settings = serde_json::Map::new();
            for (k, v) in &values {
                let value = v.as_deref().map_or(serde_json::Value::Null, |t| {
                    serde_json::to_value(toml_value(t)).unwrap_or(serde_json::Value::Null)
                });
                settings.insert((*k).clone(), serde_json::json!({"value": value, "source": src.get(k).describe()}));
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
            let file = src
                .config_file
                .as_ref()
                .map_or("none (--config / DRATA_ETL_CONFIG)".into(), |p| p.display().to_string());
            let _ = writeln!(o, "# config file: {file}");
            for (k, v) in &values {
                match v {
                    Some(t) => {
                        let _ = writeln!(o, "{k} = {}  # {}", toml_value(t), src.get(k).describe());
                    }
                    None => {
                        let _ = writeln!(o, "# {k} is not set");
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

    #[test]
    fn shows_every_setting_and_masks_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("key");
        std::fs::write(&key, "sekrit-123").unwrap();
        let (cli, src) = crate::cli::file::parse([
            "drata-etl",
            "config",
            "show",
            "--out",
            "x",
            "--page-size",
            "7",
            "--api-key-file",
            key.to_str().unwrap(),
        ])
        .unwrap();
        let crate::cli::Command::Config(crate::cli::ConfigCommand::Show(a)) = &cli.command else { panic!() };
        let text = show(a, &src);
        for k in setting_keys() {
            assert!(text.contains(&format!("{k} = ")) || text.contains(&format!("# {k} is not set")), "{k}: {text}");
        }
        assert!(text.contains("page_size = 7  # flag --page-size"), "{text}");
        assert!(text.contains("concurrency = 16  # default"), "{text}");
        assert!(text.contains("# api_key = \"***\"  # key file"), "{text}");
        assert!(!text.contains("sekrit"));
        let parsed: toml::Table = toml::from_str(&text).expect("the TOML output parses");
        assert_eq!(parsed["page_size"].as_integer(), Some(7));
    }
}
