//! One demo run, from the parent's side: a temporary `TOKENWARDEN_HOME` (0700, removed at the
//! end), mockauth in-process, the demo profile, a login with no browser, N worker processes
//! (the [`Fleet`]), the fault schedule played against mockauth, the live display, and the
//! events collected into a [`Run`].

use crate::display::{Display, Tally};
use crate::emit::unix_ms;
use crate::fleet::Fleet;
use crate::login;
use crate::protocol::{Event, Kind, Strategy, WorkerSettings};
use crate::schedule::{self, BREAKER_COOLDOWN, LEAD_S, RETRY_MAX_DELAY, Timing, phase_at};
use crate::summary::Run;
use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::paths::Paths;
use tokenwarden::token::TokenSet;
use tokenwarden::warden::Warden;
use tokio::sync::mpsc;

/// The profile the demo writes and its workers use.
const PROFILE: &str = "demo";

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
    /// Colour the animated display.
    pub color: bool,
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
    let mut display = Display::new(
        settings.tty,
        settings.color,
        settings.strategy,
        settings.workers,
        timing,
    );
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
    let worker = WorkerSettings {
        worker: 0,
        strategy: settings.strategy,
        run_ms: settings.seconds * 1000,
        interval_ms: timing.interval_ms,
    };
    let mut fleet = Fleet::spawn(home.path(), PROFILE, settings.workers, worker, tx)?;
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
                display.warn("some workers did not stop in time; stopping them");
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
    for warning in fleet.stop().await {
        display.warn(&warning);
    }
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
    // The run's home is temporary: its key goes to a key file there, never to the OS keyring.
    let w = Warden::open(paths.clone())?.with_key_source(tokenwarden::store::KeySource::KeyFile);
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
