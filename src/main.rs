//! The `drata-etl` binary: parse the command line (flags > environment > `--config` file >
//! defaults), start logging, call the library, print what the command prints, and map
//! errors to exit codes. No logic lives here.

use drata_etl::cli::{Cli, Command, ConfigCommand, OutputFormat};
use drata_etl::config_file::{ParseError, Sources};
use drata_etl::error::{EtlError, FailureKind};
use std::process::ExitCode;

fn main() -> ExitCode {
    let (cli, sources) = match drata_etl::config_file::parse(std::env::args_os()) {
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
    match &cli.command {
        Command::Run(args) => {
            match drata_etl::ops::run::run(args, sources, drata_etl::signals::shutdown_signal()).await {
                Ok(summary) => {
                    println!("{}", serde_json::to_string(&summary).expect("summary serialises"));
                    0
                }
                Err(e) => fail(&e),
            }
        }
        Command::Check(args) => match drata_etl::ops::preflight::check(args, sources).await {
            Ok(report) => {
                match args.format {
                    OutputFormat::Text => print!("{}", report.to_table()),
                    OutputFormat::Json => println!("{}", report.to_json()),
                }
                if let Some(e) = &report.error {
                    tracing::error!(exit_code = e.kind.exit_code(), kind = e.kind.as_str(), "{}", e.message);
                }
                report.exit_code()
            }
            Err(e) => fail(&e),
        },
        Command::Config(ConfigCommand::Show(args)) => {
            print!("{}", drata_etl::ops::config_show::show(args, sources));
            0
        }
        Command::Verify(args) => report(drata_etl::ops::verify::verify(args).await),
        Command::List(args) => report(drata_etl::ops::list::list(args).await.map(|text| (text, None))),
        Command::Prune(args) => report(drata_etl::ops::prune::prune(args).await),
        #[cfg(feature = "simulator")]
        Command::Demo(args) => match drata_etl::demo::demo(args).await {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => fail(&e),
        },
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => match drata_etl::sim_cli::serve(args).await {
            Ok(()) => 0,
            Err(e) => fail(&e),
        },
        #[cfg(feature = "analytics")]
        Command::Report(args) => done(drata_etl::analyze::commands::report(args).await),
        #[cfg(feature = "analytics")]
        Command::Diff(args) => done(drata_etl::analyze::commands::diff(args).await),
        #[cfg(feature = "analytics")]
        Command::Reconcile(args) => done(drata_etl::analyze::commands::reconcile(args).await),
    }
}

/// The exit code of an analytics command, which prints its own output.
#[cfg(feature = "analytics")]
fn done(r: Result<(), EtlError>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// Print a maintenance command's report on stdout, then its failure if it has one.
fn report(r: Result<(String, Option<EtlError>), EtlError>) -> i32 {
    match r {
        Ok((text, problem)) => {
            print!("{text}");
            problem.map_or(0, |e| fail(&e))
        }
        Err(e) => fail(&e),
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
