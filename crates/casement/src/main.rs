//! `casement`: AWS Systems Manager Maintenance Windows, self-hosted.

use casement::{cli, server};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => {
            init_tracing(&args.log_format);
            server::serve(args).await
        }
    }
}

fn init_tracing(format: &cli::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASEMENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.with_ansi(false).init(),
    }
}
