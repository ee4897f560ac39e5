//! One demo run, from the parent's side: a temporary `TOKENWARDEN_HOME` (0700, removed at the
//! end), mockauth in-process, the demo profile, a login with no browser, N worker processes of
//! this binary, the fault schedule played against mockauth, the live display, and the events
//! collected into a [`Run`].

use super::display::{Display, Tally};
use super::login;
use super::protocol::{Event, GO, Kind, Strategy};
use super::schedule::{self, BREAKER_COOLDOWN, LEAD_S, RETRY_MAX_DELAY, Timing, phase_at};
use super::summary::Run;
use super::worker::unix_ms;
use anyhow::{Context as _, Result, bail};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::paths::Paths;
use tokenwarden::store::Store as _;
use tokenwarden::token::TokenSet;
use tokenwarden::warden::Warden;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The profile the demo writes and its workers use.
pub const PROFILE: &str = "demo";

/// How long workers may take to start.
const READY_WAIT: Duration = Duration::from_secs(30);

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The strategy.
    pub strategy: Strategy,
    /// Worker processes.
    pub workers: u32,
    /// Length of the run, seconds.
    pub seconds: u64,
    /// The seed of the storms' fault generators.
    pub seed: u64,
    /// Animate the display (stderr is a terminal).
    pub tty: bool,
}

/// Runs the demo once and returns what happened. Ctrl-C stops the workers and removes the
/// temporary home (by dropping the run).
pub async fn run(settings: Settings) -> Result<Run> {
    tokio::select! {
        run = run_inner(settings) => run,
        _ = tokio::signal::ctrl_c() => {
            bail!("demo interrupted (Ctrl-C); the workers were stopped and the temporary home removed")
        }
    }
}

async fn run_inner(settings: Settings) -> Result<Run> {
    let timing = Timing::for_run(settings.seconds as f64);
    let mut phases = schedule::plan(&timing, settings.seed);
    let mut display = Display::new(settings.tty, settings.strategy, settings.workers, timing);
    let home = TempHome::create()?;
    let server = mockauth::Server::start(mockauth::Config {
        auto_approve: true,
        access_ttl: timing.ttl(),
        rotate_refresh_tokens: true,
        reuse_grace: Duration::ZERO,
        ..mockauth::Config::default()
    })
    .await
    .context("cannot start the demo's authorization server on 127.0.0.1")?;
    let paths = Paths::in_dir(home.path());
    write_profile(&paths, &server.issuer(), &timing)?;
    display.note("logging in to the demo's authorization server (no browser needed)…");
    let login = login_once(&paths).await?;
    server.reset_stats();

    display.note(&format!("starting {} workers…", settings.workers));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut fleet = Fleet::spawn(settings, &timing, home.path(), tx)?;
    fleet.wait_ready(&mut rx).await?;
    let t0 = SystemTime::now();
    let start = Instant::now();
    fleet.go().await?;
    display.started();
    let mut clocks = Clocks::new(settings, &timing, &login, t0);

    let mut tally = Tally::new(settings.workers);
    let mut events: Vec<Event> = Vec::new();
    let mut next = 0usize;
    // mockauth's counters when the phase in force began: (faults injected, refresh requests).
    let mut phase_base = (0, 0);
    let counters = |server: &mockauth::ServerHandle| {
        let st = server.stats();
        (st.faults_injected, st.token_requests.refresh_token)
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let hard_stop = start + Duration::from_secs(settings.seconds) + Duration::from_secs(15);
    let elapsed = || start.elapsed().as_secs_f64();
    loop {
        let due = phases
            .get(next)
            .map(|p| start + Duration::from_secs_f64(p.start));
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(e) => {
                    tally.add(&e);
                    clocks.add(&e);
                    events.push(e);
                }
                None => break,
            },
            () = sleep_until_opt(due) => {
                // A phase that means something only when it meets a refresh waits for the
                // next one, when its flex allows.
                if let Some(p) = phases.get(next)
                    && schedule::waits_for_refresh(p.fault)
                    && p.flex > 0.0
                {
                    let by = clocks.next_due() - LEAD_S - p.start;
                    if schedule::delay(&mut phases, next, by) > 0.0 {
                        continue;
                    }
                }
                let now = counters(&server);
                if let Some(prev) = next.checked_sub(1).and_then(|i| phases.get_mut(i)) {
                    prev.faults_injected = now.0 - phase_base.0;
                    prev.refresh_requests = now.1 - phase_base.1;
                }
                phase_base = now;
                if let Some(p) = phases.get_mut(next) {
                    p.apply(&server).context("the demo's fault schedule is invalid")?;
                    p.played_at = Some((elapsed() * 100.0).round() / 100.0);
                    display.phase(p, &tally, elapsed());
                }
                next += 1;
            }
            _ = tick.tick() => {
                let now = elapsed().min(timing.seconds);
                display.tick(&tally, phase_at(&phases, now), now);
            }
            () = tokio::time::sleep_until(hard_stop.into()) => {
                eprintln!("warning: some workers did not stop in time; stopping them");
                break;
            }
        }
    }
    server.clear_faults();
    let now = counters(&server);
    if let Some(last) = next.checked_sub(1).and_then(|i| phases.get_mut(i)) {
        last.faults_injected = now.0 - phase_base.0;
        last.refresh_requests = now.1 - phase_base.1;
    }
    display.finish(&tally, elapsed().min(timing.seconds));
    fleet.stop().await;
    let stats = server.stats();
    let _ = server.shutdown().await;
    Ok(Run {
        strategy: settings.strategy,
        workers: settings.workers,
        timing,
        seed: settings.seed,
        phases,
        events,
        t0_ms: unix_ms(t0),
        stats,
    })
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Writes `config.toml` with the demo profile: mockauth's public client `cli`, a proactive
/// window of half the token lifetime, and quick retries and breaker so storms end visibly.
fn write_profile(paths: &Paths, issuer: &str, t: &Timing) -> Result<()> {
    let text = format!(
        r#"# Written by `tokenwarden demo` for its in-process authorization server; removed at the end.
[profiles.{PROFILE}]
issuer = "{issuer}"
client_id = "cli"
scopes = ["openid", "offline_access"]
redirect_uri = "http://127.0.0.1/callback"
resource = "{issuer}/v1/messages"
refresh_skew = "{window_ms}ms"
timeout = "10s"
connect_timeout = "2s"
max_attempts = 4
retry_base_delay = "100ms"
retry_max_delay = "{max_delay_ms}ms"
max_retry_after = "5s"
breaker_threshold = 5
breaker_cooldown = "{cooldown_ms}ms"
"#,
        window_ms = (t.window_s * 1000.0) as u64,
        max_delay_ms = RETRY_MAX_DELAY.as_millis(),
        cooldown_ms = BREAKER_COOLDOWN.as_millis(),
    );
    let file = paths.config_file();
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
}

/// The demo's own login, stored as `tokenwarden login` stores it; returns the tokens.
async fn login_once(paths: &Paths) -> Result<TokenSet> {
    let w = Warden::open(paths.clone())?;
    let profile = w.profile(PROFILE)?.profile;
    let client = w.client(&profile)?;
    let tokens = login::headless(&client)
        .await
        .context("the demo could not log in to its own authorization server")?;
    w.store()?.replace(PROFILE, &tokens)?;
    Ok(tokens)
}

/// When each worker's next refresh is due (its token enters the proactive window), in
/// seconds after the start, followed from the workers' events. tokenwarden's workers share one
/// token; each naive worker keeps its own copy.
#[derive(Debug)]
struct Clocks {
    shared: bool,
    due: Vec<f64>,
    between: f64,
    t0_ms: u64,
}

impl Clocks {
    fn new(s: Settings, t: &Timing, login: &TokenSet, t0: SystemTime) -> Clocks {
        let rel = |at: SystemTime| match at.duration_since(t0) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let due = rel(login.obtained_at) + t.between_s();
        Clocks {
            shared: s.strategy == Strategy::Tokenwarden,
            due: vec![due; s.workers as usize],
            between: t.between_s(),
            t0_ms: unix_ms(t0),
        }
    }

    /// Follows a new token: a refresh, or a login.
    fn add(&mut self, e: &Event) {
        if !matches!(
            e.kind,
            Kind::Refresh { ok: true, .. } | Kind::Relogin { ok: true, .. }
        ) {
            return;
        }
        let received = (e.at_ms as f64 - self.t0_ms as f64 + e.ms) / 1000.0;
        let due = received + self.between;
        if self.shared {
            self.due.iter_mut().for_each(|d| *d = due);
        } else if let Some(d) = self.due.get_mut(e.worker as usize) {
            *d = due;
        }
    }

    /// When the next refresh is due (in the past: one is due now).
    fn next_due(&self) -> f64 {
        self.due.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// A private directory for the run, removed when dropped.
#[derive(Debug)]
struct TempHome(PathBuf);

impl TempHome {
    fn create() -> Result<TempHome> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("tokenwarden-demo-{}-{nanos:x}", std::process::id()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)
            .with_context(|| format!("cannot create the demo's directory {}", dir.display()))?;
        Ok(TempHome(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The worker processes.
struct Fleet {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    stderr: Vec<Arc<Mutex<VecDeque<String>>>>,
    workers: u32,
}

impl Fleet {
    fn spawn(
        s: Settings,
        t: &Timing,
        home: &Path,
        tx: mpsc::UnboundedSender<Event>,
    ) -> Result<Fleet> {
        let exe = this_program()?;
        let mut fleet = Fleet {
            children: Vec::new(),
            stdins: Vec::new(),
            stderr: Vec::new(),
            workers: s.workers,
        };
        for i in 0..s.workers {
            let mut cmd = Command::new(&exe);
            // `ps` shows the program's name rather than /proc/self/exe.
            #[cfg(unix)]
            cmd.arg0("tokenwarden");
            let mut child = cmd
                .args(["--profile", PROFILE, "demo-worker"])
                .args(["--worker", &i.to_string()])
                .args(["--strategy", s.strategy.as_str()])
                .args(["--run-ms", &(s.seconds * 1000).to_string()])
                .args(["--interval-ms", &t.interval_ms.to_string()])
                .env("TOKENWARDEN_HOME", home)
                .env("RUST_LOG", "error")
                .env_remove("TOKENWARDEN_TRACE_HTTP")
                .env_remove("TOKENWARDEN_PROFILE")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start worker {i} ({})", exe.display()))?;
            let (Some(stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                bail!("worker {i} has no pipes");
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(e) = serde_json::from_str::<Event>(&line)
                        && tx.send(e).is_err()
                    {
                        break;
                    }
                }
            });
            let tail = Arc::new(Mutex::new(VecDeque::new()));
            let keep = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut t = keep.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == 20 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
            fleet.children.push(child);
            fleet.stdins.push(stdin);
            fleet.stderr.push(tail);
        }
        Ok(fleet)
    }

    /// Waits until every worker said it is ready (events before `go` are only `ready`); a
    /// worker that ends first is reported with its last stderr lines.
    async fn wait_ready(&mut self, rx: &mut mpsc::UnboundedReceiver<Event>) -> Result<()> {
        let mut ready = vec![false; self.workers as usize];
        let deadline = Instant::now() + READY_WAIT;
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        while let Some(missing) = ready.iter().position(|r| !r) {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(e) if e.kind == Kind::Ready => {
                        if let Some(r) = ready.get_mut(e.worker as usize) {
                            *r = true;
                        }
                    }
                    Some(_) => {}
                    None => bail!("the workers ended before starting{}", stderr_of(&self.stderr, missing)),
                },
                _ = poll.tick() => {
                    for (i, child) in self.children.iter_mut().enumerate() {
                        if ready.get(i) == Some(&false)
                            && let Ok(Some(status)) = child.try_wait()
                        {
                            // Let the stderr reader catch the last lines.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            bail!("worker {i} ended with {status} before starting{}", stderr_of(&self.stderr, i));
                        }
                    }
                    if Instant::now() >= deadline {
                        bail!(
                            "worker {missing} did not start within {} s{}",
                            READY_WAIT.as_secs(),
                            stderr_of(&self.stderr, missing)
                        );
                    }
                }
            }
        }
        Ok(())
    }

    async fn go(&mut self) -> Result<()> {
        for (i, stdin) in self.stdins.iter_mut().enumerate() {
            stdin
                .write_all(format!("{GO}\n").as_bytes())
                .await
                .with_context(|| format!("cannot start worker {i}"))?;
        }
        Ok(())
    }

    /// Closes the workers' stdin (they stop), waits a little, then kills what is left. A
    /// worker that failed has its last stderr lines shown.
    async fn stop(mut self) {
        self.stdins.clear();
        for (i, child) in self.children.iter_mut().enumerate() {
            match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => {
                    eprintln!(
                        "warning: worker {i} ended with {status}{}",
                        stderr_of(&self.stderr, i)
                    );
                }
                _ => {
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// This very program, to start workers with. On Linux `/proc/self/exe`, which still names
/// the running binary when its file was replaced (by a rebuild) during the run.
fn this_program() -> Result<PathBuf> {
    let proc_exe = Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe().context("cannot find this program to start the workers")
}

/// The last stderr lines of a worker, as `:\n  line…`, or nothing.
fn stderr_of(tails: &[Arc<Mutex<VecDeque<String>>>], worker: usize) -> String {
    let lines: Vec<String> = tails
        .get(worker)
        .map(|t| {
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if lines.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", lines.join("\n  "))
    }
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}
