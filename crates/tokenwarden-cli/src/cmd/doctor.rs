//! `tokenwarden doctor` (being built).

use super::Global;

/// Arguments of `tokenwarden doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `tokenwarden doctor`.
pub async fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`doctor` is not built yet")
}
