//! One refresh on loopback, in a cold process, with its phases.
//!
//! `drive` starts mockauth in this process, logs the profile `bench` in under a temporary
//! home, then makes these runs, `rounds` times each, in an order rotating from round to round:
//!
//! - **library**: this binary's `refresh-child`, which runs the library's public steps one
//!   by one and times each: the async runtime, opening the config and the store and reading
//!   the tokens, building the token client (HTTP client; the TLS roots are read only for
//!   https), discovery (the issuer's metadata, kept in the store by the login for as long as
//!   mockauth's `Cache-Control: max-age` allows), the refresh request, and the
//!   compare-and-swap write of the new tokens (one durable SQLite transaction). What the
//!   process costs around them (exec, dynamic loading, exit) is the wall time seen from here
//!   minus the time inside.
//! - **warm** ([`warm_refresh`]): the refresh request in this process, with a client that
//!   already holds its connection, metadata and keys: the request without a cold process.
//! - **binary**: `tokenwarden --profile bench token` after the stored token was marked
//!   rejected (as a resource server's 401 does), so it must refresh. Its session also takes
//!   the profile's locks, marks the refresh in flight and logs the event: the real cost.
//!   It runs twice: as the only connection to the store (the usual case without an agent: it
//!   creates the write-ahead log and checkpoints it at exit), and while this process holds a
//!   connection open (as a running agent or another session does).
//!
//! Every refresh is checked to have happened (the stored version changed). Nothing is
//! timed inside the product: the phases are the library's public calls, timed from here.

use crate::PROFILE;
use crate::login::{self, report};
use crate::stats::summary_ms;
use anyhow::{Context as _, Result, bail, ensure};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tokenwarden::paths::Paths;
use tokenwarden::store::{CasOutcome, Store};
use tokenwarden::warden::Warden;

/// The phases of the library's refresh, in order: the JSON key and the label printed.
const PHASES: [(&str, &str); 6] = [
    ("runtime", "async runtime start"),
    ("open", "config + store open + read"),
    ("client", "client build (HTTP)"),
    ("discovery", "discovery (kept in the store)"),
    ("request", "refresh request"),
    ("write", "store write (CAS, durable)"),
];

/// `tokenwarden-bench refresh`: see the module documentation.
pub fn drive(rounds: usize, cli: Option<&Path>) -> Result<()> {
    ensure!(rounds > 0, "--rounds must be at least 1");
    if let Some(cli) = cli {
        ensure!(
            cli.is_file(),
            "{} is not a file: build it first (cargo build --release -p tokenwarden-cli)",
            cli.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("could not start a tokio runtime")?;
    let tmp = tempfile::tempdir().context("could not create a temporary directory")?;
    let home = tmp.path().join("home");
    let server = rt.block_on(login::start_mock())?;
    rt.block_on(login::logged_in_home(&home, &server.issuer()))?;
    let exe = std::env::current_exe().context("cannot find this binary")?;

    let mut phases: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    let mut outside = Vec::new();
    let mut library_wall = Vec::new();
    let mut binary_wall = Vec::new();
    let mut held_wall = Vec::new();
    let mut warm = Vec::new();
    let mut kinds = vec![Kind::Library, Kind::Warm];
    if cli.is_some() {
        kinds.extend([Kind::Binary, Kind::BinaryHeld]);
    }
    for _ in 0..rounds {
        // Rotate which goes first, so that none always follows another.
        kinds.rotate_left(1);
        for kind in &kinds {
            match (kind, cli) {
                (Kind::Binary, Some(cli)) => binary_wall.push(ms(binary_refresh(cli, &home)?)),
                (Kind::BinaryHeld, Some(cli)) => {
                    // Another connection stays open meanwhile, as a running agent's or
                    // another session's does.
                    let held = Warden::open(Paths::in_dir(&home)).map_err(report)?;
                    let store = held.store().map_err(report)?;
                    stored_version_in(store.as_ref())?;
                    held_wall.push(ms(binary_refresh(cli, &home)?));
                }
                (Kind::Binary | Kind::BinaryHeld, None) => {}
                (Kind::Warm, _) => warm.push(ms(rt.block_on(warm_refresh(&home))?)),
                (Kind::Library, _) => {
                    let (wall, child) = library_refresh(&exe, &home)?;
                    // The laps are back to back: their sum is the whole time inside.
                    let inside: u64 = child.iter().sum();
                    for (samples, us) in phases.iter_mut().zip(&child) {
                        samples.push(*us as f64 / 1000.0);
                    }
                    outside.push((ms(wall) - inside as f64 / 1000.0).max(0.0));
                    library_wall.push(ms(wall));
                }
            }
        }
    }
    rt.block_on(server.shutdown())
        .context("mockauth did not stop")?;

    println!(
        "one refresh on loopback, cold process: {rounds} rounds, milliseconds, median (p10–p90)"
    );
    println!("library steps, timed inside a process of this binary:");
    for ((_, label), samples) in PHASES.iter().zip(&phases) {
        println!("  {label:<38}{}", summary_ms(samples));
    }
    println!(
        "  {:<38}{}",
        "process start, args + exit (outside)",
        summary_ms(&outside)
    );
    println!(
        "  {:<38}{}",
        "whole process (wall)",
        summary_ms(&library_wall)
    );
    println!("in this process, the client warm (its connection, metadata and keys in hand):");
    println!(
        "  {:<38}{}",
        "refresh request (as an agent's)",
        summary_ms(&warm)
    );
    match cli {
        Some(cli) => {
            println!(
                "{} --profile {PROFILE} token, token rejected (wall):",
                cli.display()
            );
            println!(
                "  {:<38}{}",
                "the only connection to the store",
                summary_ms(&binary_wall)
            );
            println!(
                "  {:<38}{}",
                "another connection open meanwhile",
                summary_ms(&held_wall)
            );
            println!(
                "  (the difference is the last connection's work: it creates the write-ahead log,\n   \
                 and at exit checkpoints it into the database, with its fsyncs, and deletes it)"
            );
        }
        None => println!("(pass --cli PATH to time the tokenwarden binary refreshing too)"),
    }
    Ok(())
}

/// Runs `refresh-child` in a new process; its wall time and its phases (µs, in [`PHASES`]
/// order).
fn library_refresh(exe: &Path, home: &Path) -> Result<(Duration, Vec<u64>)> {
    let before = stored_version(home)?;
    let start = Instant::now();
    let out = run(Command::new(exe).arg("refresh-child"), home)?;
    let wall = start.elapsed();
    ensure!(
        stored_version(home)? != before,
        "refresh-child ended without storing new tokens"
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout)
        .context("refresh-child did not print its phases as JSON")?;
    let phases = PHASES
        .iter()
        .map(|(key, _)| {
            line.get(key)
                .and_then(serde_json::Value::as_u64)
                .with_context(|| format!("refresh-child printed no `{key}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((wall, phases))
}

/// Marks the stored token rejected, then times `cli --profile bench token`, which must refresh.
fn binary_refresh(cli: &Path, home: &Path) -> Result<Duration> {
    let before = stored_version(home)?;
    let marked = with_store(home, |store| {
        store.mark_rejected(PROFILE, before).map_err(report)
    })?;
    ensure!(marked, "could not mark the stored token rejected");
    let start = Instant::now();
    let out = run(
        Command::new(cli).args(["--profile", PROFILE, "token"]),
        home,
    )?;
    let wall = start.elapsed();
    ensure!(
        !out.stdout.is_empty(),
        "`tokenwarden token` printed no token"
    );
    ensure!(
        stored_version(home)? != before,
        "`tokenwarden token` did not refresh the rejected token"
    );
    Ok(wall)
}

/// Runs `cmd` with `home` as its tokenwarden home and nothing else of ours in its
/// environment; fails with its (sanitised) stderr when it fails.
fn run(cmd: &mut Command, home: &Path) -> Result<Output> {
    let out = cmd
        .env("TOKENWARDEN_HOME", home)
        .env_remove("TOKENWARDEN_KEY")
        .env_remove("TOKENWARDEN_PROFILE")
        .env_remove("TOKENWARDEN_TRACE_HTTP")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            printable(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(out)
}

/// `text` with control characters (other than newlines) replaced, for a terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect()
}

/// The version of the profile's stored tokens.
fn stored_version(home: &Path) -> Result<tokenwarden::store::Version> {
    with_store(home, stored_version_in)
}

/// The version of the profile's tokens in `store`.
fn stored_version_in(store: &dyn Store) -> Result<tokenwarden::store::Version> {
    Ok(store
        .read(PROFILE)
        .map_err(report)?
        .context("no tokens are stored for the profile `bench`")?
        .version)
}

/// Two refreshes in this process with one client, storing each; the time of the second
/// request, whose client already holds its connection, the issuer's metadata and keys (as the
/// agent's does): what a refresh costs without a process around it, the provider's time
/// included.
async fn warm_refresh(home: &Path) -> Result<Duration> {
    let warden = Warden::open(Paths::in_dir(home)).map_err(report)?;
    let store = warden.store().map_err(report)?;
    let profile = warden.profile(PROFILE).map_err(report)?.profile;
    let client = warden.client(&profile).map_err(report)?;
    let mut took = Duration::ZERO;
    for _ in 0..2 {
        let (stored, refresh_token) = stored_refresh_token(store.as_ref())?;
        let start = Instant::now();
        let answer = client.refresh(&refresh_token).await.map_err(report)?;
        took = start.elapsed();
        let tokens = answer.renewing(&stored.tokens);
        let written = store
            .write_if_version(PROFILE, stored.version, &tokens)
            .map_err(report)?;
        ensure!(
            matches!(written, CasOutcome::Written(_)),
            "the stored tokens changed during a warm refresh"
        );
    }
    Ok(took)
}

/// The profile's stored tokens and their refresh token.
fn stored_refresh_token(
    store: &dyn Store,
) -> Result<(
    tokenwarden::store::StoredTokens,
    tokenwarden::secret::RefreshToken,
)> {
    let stored = store
        .read(PROFILE)
        .map_err(report)?
        .context("no tokens are stored for the profile `bench`")?;
    let refresh_token = stored
        .tokens
        .refresh_token
        .clone()
        .context("the stored tokens have no refresh token")?;
    Ok((stored, refresh_token))
}

/// The kinds of run a round makes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `refresh-child`: the library's steps, each timed.
    Library,
    /// The binary, the only connection to the store.
    Binary,
    /// The binary while this process keeps a connection to the store open.
    BinaryHeld,
    /// [`warm_refresh`], in this process.
    Warm,
}

/// Runs `f` on the store of `home`, opened for it and closed after: a connection held open
/// here while a timed process runs would spare that process the work of the last connection
/// (creating the WAL, and the checkpoint and its fsyncs at exit), which a real refresh pays.
fn with_store<R>(home: &Path, f: impl FnOnce(&dyn Store) -> Result<R>) -> Result<R> {
    let warden = Warden::open(Paths::in_dir(home)).map_err(report)?;
    let store = warden.store().map_err(report)?;
    f(store.as_ref())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `tokenwarden-bench refresh-child`: one refresh of the profile `bench` of
/// `$TOKENWARDEN_HOME` through the library's public steps, each timed; prints the phases as
/// one JSON object of microseconds.
pub fn child() -> Result<()> {
    let mut lap = Lap(Instant::now());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start a tokio runtime")?;
    let runtime = lap.next();
    let timed = rt.block_on(async {
        let warden = Warden::open(Paths::from_env().map_err(report)?).map_err(report)?;
        let store = warden.store().map_err(report)?;
        let (stored, refresh_token) = stored_refresh_token(store.as_ref())?;
        let open = lap.next();
        let profile = warden.profile(PROFILE).map_err(report)?.profile;
        let client = warden.client(&profile).map_err(report)?;
        let client_build = lap.next();
        client.token_endpoint().await.map_err(report)?;
        let discovery = lap.next();
        let answer = client.refresh(&refresh_token).await.map_err(report)?;
        let request = lap.next();
        // As the session does: what the answer leaves out (an unrotated refresh token) is kept.
        let tokens = answer.renewing(&stored.tokens);
        let written = store
            .write_if_version(PROFILE, stored.version, &tokens)
            .map_err(report)?;
        let write = lap.next();
        ensure!(
            matches!(written, CasOutcome::Written(_)),
            "another process changed the stored tokens during the refresh"
        );
        Ok([open, client_build, discovery, request, write])
    });
    rt.shutdown_background();
    let [open, client, discovery, request, write] = timed?;
    println!(
        "{}",
        serde_json::json!({
            "runtime": runtime, "open": open, "client": client, "discovery": discovery,
            "request": request, "write": write,
        })
    );
    Ok(())
}

/// Microseconds since the last lap.
struct Lap(Instant);

impl Lap {
    fn next(&mut self) -> u64 {
        let now = Instant::now();
        let us = now.duration_since(self.0).as_micros();
        self.0 = now;
        u64::try_from(us).unwrap_or(u64::MAX)
    }
}
