//! The `drata-etl` binary: parse the command line (flags > environment > `--config` file >
//! defaults), start logging, call the library, print what the command prints, and map
//! errors to exit codes. No logic lives here.

use drata_etl::cli::file::{ParseError, Sources};
use drata_etl::cli::{Cli, Command, ConfigCommand};
use drata_etl::error::{EtlError, FailureKind};
use std::process::ExitCode;

fn main() -> ExitCode {
    let (cli, sources) = match drata_etl::cli::file::parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(ParseError::Clap(e)) => {
            let code = if e.use_stderr() { FailureKind::Usage.exit_code() } else { 0 };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
        Err(ParseError::Config(e)) => {
            drata_etl::logging::init(drata_etl::cli::LogFormat::Text, "info");
            return ExitCode::from(fail(&e) as u8);
        }
    };
    drata_etl::logging::init(cli.log_format, &cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let code = runtime.block_on(dispatch(&cli, &sources));
    // Do not wait for stray blocking tasks (a writer finishing after an abort).
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code as u8)
}

async fn dispatch(cli: &Cli, sources: &Sources) -> i32 {
    use drata_etl::commands::*;
    let outcome = match &cli.command {
        Command::Run(args) => run::run(args, sources, drata_etl::signals::shutdown_signal()).await,
        Command::Check(args) => check::check(args, sources).await,
        Command::Config(ConfigCommand::Show(args)) => config_show::config_show(args, sources),
        Command::Verify(args) => verify::verify(args).await,
        Command::List(args) => list::list(args).await,
        Command::Prune(args) => prune::prune(args).await,
        #[cfg(feature = "simulator")]
        Command::Demo(args) => demo::demo(args).await,
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => simulate::simulate(args).await,
        #[cfg(feature = "analytics")]
        Command::Report(args) => analytics::report(args).await,
        #[cfg(feature = "analytics")]
        Command::Diff(args) => analytics::diff(args).await,
        #[cfg(feature = "analytics")]
        Command::Reconcile(args) => analytics::reconcile(args).await,
        #[cfg(feature = "analytics")]
        Command::History(args) => history::history(args).await,
    };
    match outcome {
        Ok(o) => {
            print!("{}", o.stdout);
            match o.failure {
                None => 0,
                Some(e) if o.summary_line => fail(&e),
                Some(e) => log_failure(&e),
            }
        }
        Err(e) => fail(&e),
    }
}

/// Log a failure on stderr; its exit code.
fn log_failure(e: &EtlError) -> i32 {
    let code = e.kind.exit_code();
    tracing::error!(exit_code = code, kind = e.kind.as_str(), "{}", e.message);
    code
}

/// Report a failure: a log line on stderr, the JSON summary line on stdout.
fn fail(e: &EtlError) -> i32 {
    let code = log_failure(e);
    let line =
        serde_json::json!({"status": "error", "exit_code": code, "error_kind": e.kind.as_str(), "message": e.message});
    println!("{line}");
    code
}
