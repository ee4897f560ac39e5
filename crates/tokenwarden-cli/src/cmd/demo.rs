//! `tokenwarden demo` (being built).

use super::Global;

/// Arguments of `tokenwarden demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `tokenwarden demo`.
pub async fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`demo` is not built yet")
}
