//! Structured logs on stderr: human text (coloured on a terminal) or JSON lines.
//! stdout is reserved for the one summary line. Lines are written through
//! `terminal::ProgressAwareStderr`, which hides a progress bar while a line is written.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Libraries that narrate their own work at `info` (the Delta log's kernel, `buoyant_kernel`
/// under delta-rs, logs every snapshot it builds): kept at `warn` unless the user writes a
/// full filter.
const QUIET_LIBRARIES: [&str; 3] = ["buoyant_kernel", "buoyant_kernel_engine", "deltalake_core"];

/// The filter for `--log-level`: a bare level (`info`, `debug`) applies to the tool and
/// the libraries that speak only when something matters; a filter with targets
/// (`drata_etl=debug,delta_kernel=info`) is taken as written.
pub fn directives(level: &str) -> String {
    if level.contains('=') || level.contains(',') {
        return level.to_string();
    }
    let mut d = level.to_string();
    for lib in QUIET_LIBRARIES {
        d.push_str(&format!(",{lib}=warn"));
    }
    d
}

pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(directives(level)).unwrap_or_else(|_| EnvFilter::new(directives("info")));
    let json = format == LogFormat::Json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::terminal::ProgressAwareStderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn a_bare_level_keeps_the_delta_libraries_at_warn_and_a_full_filter_is_taken_as_written() {
        assert_eq!(directives("info"), "info,buoyant_kernel=warn,buoyant_kernel_engine=warn,deltalake_core=warn");
        assert!(directives("debug").starts_with("debug,buoyant_kernel=warn"));
        assert_eq!(directives("drata_etl=debug,buoyant_kernel=info"), "drata_etl=debug,buoyant_kernel=info");
        assert_eq!(directives("buoyant_kernel=trace"), "buoyant_kernel=trace");
        for level in ["error", "warn", "info", "debug", "trace"] {
            assert!(tracing_subscriber::EnvFilter::try_new(directives(level)).is_ok(), "{level}");
        }
    }
}
