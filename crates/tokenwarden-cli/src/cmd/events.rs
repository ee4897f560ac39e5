//! `tokenwarden events` (being built).

use super::Global;

/// Arguments of `tokenwarden events`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `tokenwarden events`.
pub async fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`events` is not built yet")
}
