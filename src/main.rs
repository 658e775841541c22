//! The `drata-etl` binary: parse the command line, start logging, call the library, print
//! the one summary line, and map errors to exit codes. No logic lives here.

use clap::Parser;
use drata_etl::cli::{Cli, Command};
use drata_etl::error::{EtlError, FailureKind};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { FailureKind::Usage.exit_code() } else { 0 };
            let _ = e.print();
            return ExitCode::from(code as u8);
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
    let code = runtime.block_on(dispatch(cli.command));
    // Do not wait for stray blocking tasks (a writer finishing after an abort).
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code as u8)
}

async fn dispatch(command: Command) -> i32 {
    match command {
        Command::Run(args) => {
            let result = match drata_etl::config::from_run_args(&args) {
                Ok(opts) => drata_etl::pipeline::run(opts, drata_etl::signals::shutdown_signal()).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(summary) => {
                    println!("{}", serde_json::to_string(&summary).expect("summary serialises"));
                    0
                }
                Err(e) => fail(&e),
            }
        }
        Command::Demo(args) => match drata_etl::demo::demo(&args).await {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => fail(&e),
        },
        Command::Simulate(args) => match drata_etl::sim_cli::serve(&args).await {
            Ok(()) => 0,
            Err(e) => fail(&e),
        },
    }
}

/// Report a failure: a log line on stderr, the JSON summary line on stdout.
fn fail(e: &EtlError) -> i32 {
    let code = e.kind.exit_code();
    tracing::error!(exit_code = code, kind = e.kind.as_str(), "{}", e.message);
    let line =
        serde_json::json!({"status": "error", "exit_code": code, "error_kind": e.kind.as_str(), "message": e.message});
    println!("{line}");
    code
}
