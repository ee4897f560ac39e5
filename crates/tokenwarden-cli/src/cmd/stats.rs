//! `tokenwarden stats` (being built).

use super::Global;

/// Arguments of `tokenwarden stats`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `tokenwarden stats`.
pub async fn run(_global: &Global, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`stats` is not built yet")
}
