//! `tokenwarden agent`: runs the agent in the foreground (for systemd and containers), or
//! `--detach`ed (returning once its socket is bound, with one JSON line
//! `{"pid":N,"socket":"…"}`); `agent stop`; `agent status [--json]` (exit 3 when no agent
//! runs). The agent itself is the `tokenwarden-agent` crate.

use super::Global;
use super::context;
use crate::output::Printer;
use anyhow::Result;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokenwarden::agent::protocol::{AgentStatus, Reply, Request};
use tokenwarden::agent::{AgentClient, AgentPaths, Unavailable};
use tokenwarden::exit::{ErrorDocument, ExitCode};
use tokenwarden::paths::Paths;
use tokenwarden::{Error, ErrorKind};
use tokenwarden_agent::daemon::{self, Listeners, Started, listen, pidfile};

/// How long `agent --detach` waits for the agent to bind its socket.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `agent stop` waits for the agent to go.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `tokenwarden agent`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Once its socket is bound, the agent prints one JSON line on stdout:\n  \
                  {\"pid\":N,\"socket\":\"…\"}\nIt runs until SIGINT, SIGTERM or `tokenwarden agent stop`."
)]
pub struct AgentArgs {
    #[command(subcommand)]
    action: Option<Action>,
    /// Run in the background; return once the socket is bound.
    #[arg(long)]
    detach: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Serve tokens over HTTP at http://ADDR/v1/profiles/{name}/token (needs --http-token-file).
    #[arg(long, value_name = "ADDR", requires = "http_token_file")]
    http: Option<SocketAddr>,
    /// The file (mode 0600) holding the bearer secret HTTP clients must send.
    #[arg(long, value_name = "FILE", requires = "http")]
    http_token_file: Option<PathBuf>,
    /// Let --metrics and --http listen on addresses that are not loopback.
    #[arg(long)]
    allow_remote: bool,
    /// Set by `--detach` on the agent it starts: reports start-up failures as JSON on stdout.
    #[arg(long, hide = true)]
    detached_child: bool,
}

/// What to do with the agent.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Stop the running agent (exit 0 once it has gone).
    Stop,
    /// Show the running agent: pid, uptime, version, profiles and their next refresh, breaker
    /// state (exit 3 when no agent runs).
    Status,
}

/// Runs `tokenwarden agent`.
pub async fn run(global: &Global, out: &Printer, args: AgentArgs) -> Result<ExitCode> {
    match args.action {
        Some(Action::Stop) => stop(out).await,
        Some(Action::Status) => status(out).await,
        None if args.detach => detach(out, &args),
        None => foreground(global, out, args).await,
    }
}

fn agent_paths() -> tokenwarden::Result<AgentPaths> {
    Ok(AgentPaths::from_env(&Paths::from_env()?))
}

async fn foreground(global: &Global, out: &Printer, args: AgentArgs) -> Result<ExitCode> {
    let result = serve(global, out, &args).await;
    match result {
        Err(e) if args.detached_child => {
            // The starter reads this line and reports it.
            let err = match e.downcast::<Error>() {
                Ok(err) => err,
                Err(other) => Error::new(ErrorKind::Other, format!("{other:#}")),
            };
            out.print_json(&ErrorDocument::new(&err))?;
            Ok(ExitCode::from(err.kind()))
        }
        other => other.map(|()| ExitCode::Success),
    }
}

async fn serve(global: &Global, out: &Printer, args: &AgentArgs) -> Result<()> {
    let warden = context::warden(global)?;
    let paths = AgentPaths::from_env(warden.paths());
    let mut listeners = Listeners::default();
    if let Some(addr) = args.metrics {
        listen::check_address(&addr, args.allow_remote, "--metrics")?;
        listeners.metrics = Some(bind(addr, "--metrics").await?);
    }
    if let (Some(addr), Some(file)) = (args.http, &args.http_token_file) {
        listen::check_address(&addr, args.allow_remote, "--http")?;
        let secret = listen::read_secret_file(file)?;
        listeners.http = Some((bind(addr, "--http").await?, secret));
    }
    let printer = *out;
    daemon::run(
        warden,
        &paths,
        listeners,
        shutdown_signal(),
        move |started| {
            if let Err(e) = printer.print_json(started) {
                tracing::warn!("cannot print the start-up line: {e}");
            }
        },
    )
    .await?;
    Ok(())
}

async fn bind(addr: SocketAddr, flag: &str) -> tokenwarden::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::usage(format!("{flag}: cannot listen on {addr}: {e}"))
            .with_hint("choose another address or port")
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Starts the agent in the background and returns once it has bound its socket, printing its
/// start-up line.
fn detach(out: &Printer, args: &AgentArgs) -> Result<ExitCode> {
    let paths = agent_paths()?;
    if let Some(pid) = pidfile::running_pid(&paths) {
        return Err(Error::usage(format!(
            "an agent is already running for this home (pid {pid})"
        ))
        .with_hint("use it as it is, or stop it first with `tokenwarden agent stop`")
        .into());
    }
    pidfile::private_dir(&paths.dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.log())
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("cannot open the agent's log {}", paths.log().display()),
            )
            .with_source(e)
        })?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("agent").arg("--detached-child");
    if let Some(a) = args.metrics {
        cmd.arg("--metrics").arg(a.to_string());
    }
    if let Some(a) = args.http {
        cmd.arg("--http").arg(a.to_string());
    }
    if let Some(f) = &args.http_token_file {
        cmd.arg("--http-token-file").arg(f);
    }
    if args.allow_remote {
        cmd.arg("--allow-remote");
    }
    use std::os::unix::process::CommandExt as _;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        // Its own process group: the terminal's Ctrl-C does not reach it.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::new(ErrorKind::Other, "cannot start the agent").with_source(e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::new(ErrorKind::Other, "the agent's output is not readable"))?;
    // The first line is the acknowledgement (or the start-up error); the agent writes it once
    // the socket is bound.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(line)) if !line.trim().is_empty() => line,
        Ok(_) => {
            let _ = child.wait();
            return Err(
                Error::new(ErrorKind::Other, "the agent exited before it was ready")
                    .with_hint(format!("see its log, {}", paths.log().display()))
                    .into(),
            );
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "the agent did not bind its socket within {} s",
                    START_TIMEOUT.as_secs()
                ),
            )
            .with_hint(format!("see its log, {}", paths.log().display()))
            .into());
        }
    };
    if let Ok(started) = serde_json::from_str::<Started>(line.trim()) {
        out.print_json(&started)?;
        return Ok(ExitCode::Success);
    }
    let _ = child.wait();
    match serde_json::from_str::<ErrorDocument>(line.trim()) {
        Ok(doc) => Err(doc.into_error().into()),
        Err(_) => Err(
            Error::new(ErrorKind::Other, "the agent's start-up line cannot be read")
                .with_hint(format!("see its log, {}", paths.log().display()))
                .into(),
        ),
    }
}

/// Connects to the running agent; a LoginRequired-coded error (exit 3) when none runs.
async fn connect(paths: &AgentPaths) -> Result<AgentClient> {
    AgentClient::connect(paths).await.map_err(|e| match e {
        Unavailable::NotRunning(_) => anyhow::Error::new(
            Error::new(ErrorKind::LoginRequired, e.to_string())
                .with_hint("start one with `tokenwarden agent --detach`"),
        ),
        other => anyhow::Error::new(Error::new(ErrorKind::Other, other.to_string())),
    })
}

async fn stop(out: &Printer) -> Result<ExitCode> {
    let paths = agent_paths()?;
    let pid = pidfile::running_pid(&paths);
    let mut client = connect(&paths).await?;
    match client.call(Request::Stop).await {
        Ok(Reply::Stopping) | Err(Unavailable::Closed) => {}
        Ok(_) | Err(_) => {
            return Err(Error::new(ErrorKind::Other, "the agent did not agree to stop").into());
        }
    }
    // Gone once its pidfile lock is released and the process has ended.
    let started = Instant::now();
    while pidfile::running_pid(&paths).is_some() || pid.is_some_and(still_there) {
        if started.elapsed() > STOP_TIMEOUT {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "the agent{} did not stop within {} s",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                    STOP_TIMEOUT.as_secs()
                ),
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !out.json() {
        out.err(format!(
            "the agent{} has stopped",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        ));
    }
    Ok(ExitCode::Success)
}

/// True while process `pid` exists: running, or ended but not yet reaped by init (a detached
/// agent's parent), so that a script's `kill -0 PID` after `agent stop` finds it gone. A
/// zombie that another live parent will reap (a test harness, a supervisor) counts as gone.
fn still_there(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "PID (COMM) STATE PPID …": the command may hold spaces and parentheses.
    let mut rest = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace();
    match (rest.next(), rest.next()) {
        (Some("Z"), Some(ppid)) => ppid == "1",
        _ => true,
    }
}

async fn status(out: &Printer) -> Result<ExitCode> {
    let paths = agent_paths()?;
    let mut client = connect(&paths).await?;
    let status = match client.call(Request::Status).await {
        Ok(Reply::Status(s)) => s,
        Ok(Reply::Error(doc)) => return Err(doc.into_error().into()),
        Ok(_) => return Err(Error::new(ErrorKind::Other, "unexpected answer").into()),
        Err(e) => return Err(Error::new(ErrorKind::Other, e.to_string()).into()),
    };
    if out.json() {
        out.print_json(&status)?;
    } else {
        print_status(out, &status)?;
    }
    Ok(ExitCode::Success)
}

fn print_status(out: &Printer, s: &AgentStatus) -> std::io::Result<()> {
    out.out(format!(
        "agent pid {} (tokenwarden {}, protocol {}), up {}, socket {}",
        s.pid,
        s.release,
        s.protocol,
        context::short(Duration::from_secs(s.uptime_s)),
        s.socket
    ))?;
    out.out(format!(
        "tokens served: {}; callers that waited for a refresh: {}",
        s.tokens_served, s.waited_for_refresh
    ))?;
    if s.profiles.is_empty() {
        out.out("no profiles")?;
    }
    for p in &s.profiles {
        let mut line = format!("  {}: {}", p.profile, p.state);
        if let Some(e) = &p.expires_at {
            line.push_str(&format!("; expires {e}"));
        }
        if let Some(n) = &p.next_refresh {
            line.push_str(&format!("; next refresh {n}"));
        }
        line.push_str(&format!(
            "; {} refreshes; breaker {}",
            p.refreshes, p.breaker
        ));
        if let Some(u) = &p.breaker_open_until {
            line.push_str(&format!(" until {u}"));
        }
        out.out(line)?;
        if let Some(e) = &p.last_error {
            out.out(format!(
                "    last error: {}",
                crate::output::escape::one_line(e)
            ))?;
        }
    }
    Ok(())
}
