//! `casement`: AWS Systems Manager Maintenance Windows, self-hosted.

use casement::{cli, server};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => {
            init_tracing(&args.log_format);
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server::serve(args))
        }
        cli::Command::Agent(args) => {
            init_tracing(&args.log_format);
            // One thread: an agent idles almost always, and stays small.
            let config = casement_agent::Config {
                endpoint: args.endpoint,
                activation_code: args.activation_code,
                activation_id: args.activation_id,
                region: args.region,
                state_dir: args.state_dir,
                heartbeat: std::time::Duration::from_secs(args.heartbeat_seconds.max(1)),
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                tokio::select! {
                    r = casement_agent::run(config) => r.map_err(anyhow::Error::from),
                    _ = tokio::signal::ctrl_c() => Ok(()),
                    _ = terminate() => Ok(()),
                }
            })
        }
    }
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

fn init_tracing(format: &cli::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASEMENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Colour only for a person at a terminal: a file or a pipe gets plain text.
        cli::LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        cli::LogFormat::Json => builder.with_ansi(false).init(),
    }
}
