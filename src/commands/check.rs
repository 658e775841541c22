//! `drata-etl check`: the run's preflight probe (`run::preflight`) on its own, plus, with
//! `--out`, a probe of the output (writable folder, or a store that can be listed, written
//! and honours conditional puts). Prints the report as a table or JSON; the exit code is the
//! first failure's.

use super::Outcome;
use crate::cli::file::Sources;
use crate::cli::{CheckArgs, OutputFormat};
use crate::drata::DrataClient;
use crate::error::EtlError;
use crate::run::preflight::{run_checks, Check, PreflightReport, Status};
use std::time::Instant;

pub async fn check(args: &CheckArgs, sources: &Sources) -> Result<Outcome, EtlError> {
    let report = report(args, sources).await?;
    let stdout = match args.format {
        OutputFormat::Text => report.to_table(),
        OutputFormat::Json => format!("{}\n", report.to_json()),
    };
    Ok(match report.error {
        // The report is the output: no summary line after it, only the log line.
        Some(e) => Outcome::failed_without_summary(stdout, e),
        None => Outcome::done(stdout),
    })
}

/// The report, whatever it found; `Err` only for usage problems (a bad
/// `--base-url`, no key) found before any request.
async fn report(args: &CheckArgs, sources: &Sources) -> Result<PreflightReport, EtlError> {
    let (base, key) = crate::cli::resolve::connection(&args.connection, sources)?;
    let client = DrataClient::new(crate::cli::resolve::check_client_config(base, key, args.request_timeout))?;
    let mut report = run_checks(&client, args.page_size, args.connection.api.choice()).await;
    if let Some(out) = &args.out {
        let started = Instant::now();
        let opts = args.store.options(3, args.request_timeout);
        let probed = match crate::store::Output::parse(out, &opts) {
            Ok(output) => crate::store::probe(&output).await,
            Err(e) => Err(e),
        };
        match probed {
            Ok(detail) => report.checks.push(Check { name: "output", status: Status::Ok, detail }),
            Err(e) => {
                report.checks.push(Check { name: "output", status: Status::Fail, detail: e.message.clone() });
                report.error.get_or_insert(e);
            }
        }
        report.elapsed += started.elapsed();
    }
    Ok(report)
}
