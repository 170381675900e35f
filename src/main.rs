//! `attachd`: parses the command line and runs it (see `cli`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    attachd::cli::run(attachd::config::Cli::parse()).await
}
