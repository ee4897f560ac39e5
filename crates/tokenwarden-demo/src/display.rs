//! What the demo shows on stderr while it runs: on a terminal, a block of four lines redrawn
//! in place (progress bar, current phase, counters, one dot per worker); otherwise plain lines,
//! one per phase change and a few with the counters. Colour only on a terminal, and only when
//! the caller allows it (`NO_COLOR` is the caller's to read).

use crate::protocol::{Event, Kind, Strategy};
use crate::schedule::{Fault, Phase, Timing};
use std::io::Write as _;

/// Running counts, for the display.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    ok: u64,
    failed: u64,
    refreshes: u64,
    invalid_grant: u64,
    relogins: u64,
    degraded: u64,
    last: Vec<Last>,
}

/// A worker's last outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Last {
    #[default]
    Idle,
    Ok,
    Degraded,
    Failed,
    Relogin,
}

impl Tally {
    /// Counts for `workers` workers.
    pub fn new(workers: u32) -> Self {
        Tally {
            last: vec![Last::Idle; workers as usize],
            ..Tally::default()
        }
    }

    /// Counts one event.
    pub fn add(&mut self, e: &Event) {
        let last = match &e.kind {
            // The dot keeps the token's colour (ok or degraded).
            Kind::ResourceOk { .. } => {
                self.ok += 1;
                None
            }
            Kind::ResourceFail { .. } => {
                self.failed += 1;
                Some(Last::Failed)
            }
            Kind::TokenOk { degraded: true } => {
                self.degraded += 1;
                Some(Last::Degraded)
            }
            Kind::TokenOk { degraded: false } => Some(Last::Ok),
            Kind::Refresh { ok: true, .. } => {
                self.refreshes += 1;
                None
            }
            Kind::InvalidGrant => {
                self.invalid_grant += 1;
                None
            }
            Kind::LoginRequired => {
                self.relogins += 1;
                Some(Last::Relogin)
            }
            _ => None,
        };
        if let (Some(l), Some(slot)) = (last, self.last.get_mut(e.worker as usize)) {
            *slot = l;
        }
    }
}

/// The live display of one run.
#[derive(Debug)]
pub struct Display {
    tty: bool,
    color: bool,
    drawn: usize,
    title: String,
    timing: Timing,
    next_plain: f64,
    plain_every: f64,
    width: usize,
}

impl Display {
    /// A display on stderr for a run; animated when `tty`, coloured when also `color`.
    pub fn new(tty: bool, color: bool, strategy: Strategy, workers: u32, timing: Timing) -> Self {
        let how = match strategy {
            Strategy::Tokenwarden => format!(
                "tokenwarden · {workers} workers · {} s · tokens live {} s, refreshed in their last {} s",
                timing.seconds, timing.ttl_s, timing.window_s
            ),
            Strategy::Naive => format!(
                "naive client · {workers} workers · {} s · tokens live {} s, one copy per process",
                timing.seconds, timing.ttl_s
            ),
        };
        let title = how;
        let plain_every = (timing.seconds / 6.0).max(5.0);
        Display {
            tty,
            color: tty && color,
            drawn: 0,
            title,
            timing,
            next_plain: plain_every,
            plain_every,
            width: terminal_width(),
        }
    }

    /// A line of news before the run starts (login, spawning).
    pub fn note(&mut self, msg: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{}", self.paint(DIM, msg));
        } else {
            eprintln!("demo: {msg}");
        }
    }

    /// The run started.
    pub fn started(&mut self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        } else {
            eprintln!("demo: {}", self.title);
        }
    }

    /// A phase began.
    pub fn phase(&mut self, p: &Phase, tally: &Tally, elapsed: f64) {
        if self.tty {
            self.draw(tally, Some(p), elapsed);
        } else {
            eprintln!(
                "[{elapsed:5.1} s] {}: {} ({})",
                p.fault.name(),
                p.detail,
                self.counters(tally, elapsed)
            );
        }
    }

    /// Time passed.
    pub fn tick(&mut self, tally: &Tally, phase: Option<&Phase>, elapsed: f64) {
        if self.tty {
            self.draw(tally, phase, elapsed);
        } else if elapsed >= self.next_plain {
            self.next_plain += self.plain_every;
            eprintln!("[{elapsed:5.1} s] {}", self.counters(tally, elapsed));
        }
    }

    /// The run ended.
    pub fn finish(&mut self, tally: &Tally, elapsed: f64) {
        if self.tty {
            self.draw(tally, None, elapsed);
        } else {
            eprintln!("[{elapsed:5.1} s] done: {}", self.counters(tally, elapsed));
        }
        self.drawn = 0;
    }

    /// Something went wrong that does not stop the run (a worker that failed).
    pub fn warn(&mut self, msg: &str) {
        eprintln!("warning: {msg}");
    }

    fn counters(&self, t: &Tally, elapsed: f64) -> String {
        let ideal = (elapsed / (self.timing.ttl_s as f64 - self.timing.window_s)).floor();
        format!(
            "calls ok {}, failed {}; refreshes {} (ideal so far {ideal}); invalid_grant {}; forced re-logins {}; degraded tokens {}",
            t.ok, t.failed, t.refreshes, t.invalid_grant, t.relogins, t.degraded
        )
    }

    fn draw(&mut self, t: &Tally, phase: Option<&Phase>, elapsed: f64) {
        let width = self.width;
        let total = self.timing.seconds.max(0.001);
        let done = (elapsed / total).clamp(0.0, 1.0);
        let cells = 24;
        let full = (done * cells as f64).round() as usize;
        let bar = format!("{}{}", "█".repeat(full), "░".repeat(cells - full));
        let clock = format!(" {elapsed:5.1}/{} s  ", self.timing.seconds);
        let room = width.saturating_sub(cells + clock.chars().count());
        let phase_text = match phase {
            Some(p) => {
                let text = format!("{}: {}", p.fault.name(), p.detail);
                self.paint(fault_color(p.fault), &truncate(&text, room))
            }
            None => self.paint(DIM, "finished"),
        };
        let ideal = (elapsed / (self.timing.ttl_s as f64 - self.timing.window_s)).floor();
        // The counters, as many as fit, each coloured red when it shows trouble.
        let parts = [
            (format!("calls ok {}", t.ok), None),
            (format!("failed {}", t.failed), Some(t.failed > 0)),
            (format!("refreshes {} (ideal {ideal})", t.refreshes), None),
            (
                format!("invalid_grant {}", t.invalid_grant),
                Some(t.invalid_grant > 0),
            ),
            (format!("re-logins {}", t.relogins), Some(t.relogins > 0)),
            (format!("degraded {}", t.degraded), None),
        ];
        let mut counters = String::new();
        let mut used = 0;
        for (text, bad) in parts {
            let len = text.chars().count() + 2;
            if used + len > width {
                break;
            }
            used += len;
            let shown = match bad {
                Some(true) => self.paint(RED, &text),
                Some(false) => self.paint(GREEN, &text),
                None => text,
            };
            counters.push_str(&shown);
            counters.push_str("  ");
        }
        let dots: String = t
            .last
            .iter()
            .take(width.saturating_sub(9))
            .map(|l| match l {
                Last::Idle => self.paint(DIM, "·"),
                Last::Ok => self.paint(GREEN, "●"),
                Last::Degraded => self.paint(YELLOW, "●"),
                Last::Failed => self.paint(RED, "✗"),
                Last::Relogin => self.paint(MAGENTA, "↻"),
            })
            .collect();
        let lines = [
            self.paint(BOLD, &truncate(&self.title, width)),
            format!("{bar}{clock}{phase_text}"),
            counters,
            format!("workers {dots}"),
        ];
        let mut err = std::io::stderr().lock();
        if self.drawn > 0 {
            let _ = write!(err, "\x1b[{}F", self.drawn);
        }
        for l in &lines {
            let _ = writeln!(err, "\x1b[2K{l}");
        }
        let _ = err.flush();
        self.drawn = lines.len();
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

const BOLD: &str = "1";
const DIM: &str = "2";
const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const MAGENTA: &str = "35";
const CYAN: &str = "36";

fn fault_color(f: Fault) -> &'static str {
    match f {
        Fault::Calm | Fault::Recovery => GREEN,
        Fault::Latency | Fault::RevokeAll => CYAN,
        Fault::RateLimit429 | Fault::ProxyHtml502 | Fault::Storm500 => YELLOW,
        Fault::HardOutage => RED,
    }
}

/// `COLUMNS` (less one) when the shell exports it, else 79: lines longer than the terminal would wrap
/// and break the redraw.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c >= 40)
        .map_or(79, |c| c - 1)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}
