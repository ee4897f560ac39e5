//! `tokenwarden store`: the token store itself. `migrate` creates or upgrades the fleet store's
//! schema (PostgreSQL: `[store] url` or `TOKENWARDEN_STORE_URL`); `copy` moves logins between
//! this machine's file and a fleet store without a new login. The library does the work
//! ([`tokenwarden::store::postgres`], [`tokenwarden::store::copy`]); this module says what it did.

use super::Global;
use super::context;
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::Error;
use tokenwarden::store::copy::{CopyOptions, Skipped, copy_logins};
use tokenwarden::store::postgres::Migration;
use tokenwarden::warden::Backend;

/// Arguments of `tokenwarden store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Create or upgrade the fleet store's tables (the store `[store] url` or
    /// TOKENWARDEN_STORE_URL names). The first use does it too unless `auto_migrate = false`.
    Migrate,
    /// Move logins between this machine's store and a fleet store, without a new login.
    #[command(after_help = "\
Each login is copied under both stores' refresh locks, then deleted from the source (a rotating \
refresh token must live in one store only: two stores would each refresh it, and the provider \
would revoke the session); --keep-source keeps it. Tokens are sealed with each store's key: the \
fleet key (TOKENWARDEN_KEY, or [store] key_file) for a postgres:// store.

Examples:
  tokenwarden store copy --to postgres://tw@db.example:5432/tokens?sslmode=verify-full
  tokenwarden store copy --from postgres://tw@db.example:5432/tokens --to local")]
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
struct CopyArgs {
    /// Where to copy from: `local` (this machine's file) or a postgres:// URL [default: the
    /// store in use]
    #[arg(long, value_name = "STORE")]
    from: Option<String>,
    /// Where to copy to: `local` or a postgres:// URL.
    #[arg(long, value_name = "STORE")]
    to: String,
    /// Copy only this profile (repeat for more) [default: every profile of the source]
    #[arg(long = "only", value_name = "PROFILE")]
    only: Vec<String>,
    /// Replace logins the destination already has.
    #[arg(long)]
    force: bool,
    /// Keep the logins in the source too (see above why that is risky).
    #[arg(long)]
    keep_source: bool,
}

/// Runs `tokenwarden store`.
pub async fn run(global: &Global, out: &Printer, args: StoreArgs) -> Result<()> {
    match args.command {
        StoreCommand::Migrate => migrate(global, out).await,
        StoreCommand::Copy(args) => copy(global, out, args).await,
    }
}

async fn migrate(global: &Global, out: &Printer) -> Result<()> {
    let w = context::warden(global)?;
    let store = match w.backend()? {
        Backend::Fleet(s) => s,
        Backend::Local(_) => {
            return Err(Error::usage(
                "no fleet store is configured: this machine's file needs no migration (it migrates itself)",
            )
            .with_hint("set `[store] url = \"postgres://USER@HOST:PORT/DB\"` in config.toml, or TOKENWARDEN_STORE_URL")
            .into());
        }
    };
    let url = store.url().redacted();
    let done = tokio::task::spawn_blocking(move || store.migrate()).await??;
    let (from, to) = match done {
        Migration::Current(v) => (v, v),
        Migration::Applied { from, to } => (from, to),
    };
    if out.json() {
        out.print_json(&json::StoreMigrate {
            store: url,
            schema_before: from,
            schema: to,
        })?;
    } else if from == to {
        out.out(format!(
            "The fleet store {url} is up to date (schema {to})."
        ))?;
    } else if from == 0 {
        out.out(format!("Set up the fleet store {url} (schema {to})."))?;
    } else {
        out.out(format!(
            "Upgraded the fleet store {url} from schema {from} to {to}."
        ))?;
    }
    Ok(())
}

async fn copy(global: &Global, out: &Printer, args: CopyArgs) -> Result<()> {
    let w = context::warden(global)?;
    let from = match &args.from {
        Some(spec) => w.open_store(spec)?,
        None => w.backend()?,
    };
    let to = w.open_store(&args.to)?;
    let (from_name, to_name) = (name(&from), name(&to));
    if from_name == to_name {
        return Err(Error::usage(format!("--from and --to both name {from_name}")).into());
    }
    let opts = CopyOptions {
        only: args.only.clone(),
        force: args.force,
        keep_source: args.keep_source,
        lock_wait: Duration::from_secs(60),
    };
    let (source, dest) = (from.store(), to.store());
    let report =
        tokio::task::spawn_blocking(move || copy_logins(source.as_ref(), dest.as_ref(), &opts))
            .await??;
    let skipped: Vec<json::StoreSkipped> = report
        .skipped
        .iter()
        .map(|(profile, why)| json::StoreSkipped {
            profile: profile.clone(),
            reason: match why {
                Skipped::NotStored => "not_stored".to_string(),
                Skipped::Exists => "exists".to_string(),
                Skipped::NotUsable(state) => format!("not_usable: {state}"),
            },
        })
        .collect();
    if out.json() {
        out.print_json(&json::StoreCopy {
            from: from_name,
            to: to_name,
            copied: report.copied.iter().map(|(p, _)| p.clone()).collect(),
            skipped,
            removed_from_source: report.removed_from_source && !report.copied.is_empty(),
        })?;
        return Ok(());
    }
    for (profile, _) in &report.copied {
        out.out(format!("Copied profile `{profile}` to {to_name}."))?;
    }
    for (profile, why) in &report.skipped {
        let why = match why {
            Skipped::NotStored => format!("{from_name} has no tokens for it"),
            Skipped::Exists => {
                format!("{to_name} has a login for it already (--force replaces it)")
            }
            Skipped::NotUsable(state) => {
                format!("its tokens are not usable ({state}): log in instead")
            }
        };
        out.warning(&format!("skipped profile `{profile}`: {why}"));
    }
    if report.copied.is_empty() {
        out.err(format!("Nothing was copied from {from_name}."));
    } else if report.removed_from_source {
        out.err(format!(
            "Removed the copied logins from {from_name}: one refresh token must live in one store."
        ));
    }
    Ok(())
}

/// How messages name a store.
fn name(backend: &Backend) -> String {
    match backend {
        Backend::Local(s) => format!("this machine's store {}", s.database_path().display()),
        Backend::Fleet(s) => format!("the fleet store {}", s.url().redacted()),
    }
}
