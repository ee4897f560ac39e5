//! `tokenwarden-bench summarize`: the table of the whole-process comparison, from the raw
//! times `process.sh` collected (one line per run: round, command, microseconds, separated by
//! tabs) and the peak resident set sizes it measured (one line per run: command, KiB).
//!
//! Each command's runs give its median (and p10–p90). The first command is the baseline: in
//! every round, each command's median is divided by the baseline's median of the same round
//! (the runs of one round are close in time, so a load that comes and goes affects both
//! alike); the table shows the median of these paired ratios, and their range.

use crate::stats::{quantile, summary_ms};
use anyhow::{Context as _, Result, bail, ensure};
use std::collections::BTreeMap;
use std::path::Path;

/// The samples of one command.
#[derive(Debug, Default)]
struct Command {
    name: String,
    /// Milliseconds, by round.
    rounds: BTreeMap<u64, Vec<f64>>,
    /// Peak RSS of runs, KiB.
    rss_kib: Vec<f64>,
}

impl Command {
    fn all(&self) -> Vec<f64> {
        self.rounds.values().flatten().copied().collect()
    }
}

/// Reads the files and prints the table.
pub fn summarize(times: &Path, rss: Option<&Path>) -> Result<()> {
    let text = read(times)?;
    let mut commands = parse_times(&text)?;
    if let Some(rss) = rss {
        add_rss(&mut commands, &read(rss)?)?;
    }
    print!("{}", table(&commands));
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// The commands of a times file, in the order they first appear.
fn parse_times(text: &str) -> Result<Vec<Command>> {
    let mut commands: Vec<Command> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [round, name, us] = fields[..] else {
            bail!(
                "line {}: expected round, command and microseconds separated by tabs",
                n + 1
            );
        };
        let round: u64 = round
            .parse()
            .with_context(|| format!("line {}: the round is not a number", n + 1))?;
        let us: f64 = us
            .parse()
            .with_context(|| format!("line {}: the time is not a number", n + 1))?;
        command(&mut commands, name)
            .rounds
            .entry(round)
            .or_default()
            .push(us / 1000.0);
    }
    ensure!(!commands.is_empty(), "no times were recorded");
    Ok(commands)
}

/// Adds the peak RSS lines (command, KiB) to their commands.
fn add_rss(commands: &mut Vec<Command>, text: &str) -> Result<()> {
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let Some((name, kib)) = line.split_once('\t') else {
            bail!(
                "line {}: expected command and KiB separated by a tab",
                n + 1
            );
        };
        let kib: f64 = kib
            .trim()
            .parse()
            .with_context(|| format!("line {}: the size is not a number", n + 1))?;
        command(commands, name).rss_kib.push(kib);
    }
    Ok(())
}

fn command<'a>(commands: &'a mut Vec<Command>, name: &str) -> &'a mut Command {
    let i = match commands.iter().position(|c| c.name == name) {
        Some(i) => i,
        None => {
            commands.push(Command {
                name: name.to_string(),
                ..Command::default()
            });
            commands.len() - 1
        }
    };
    &mut commands[i]
}

/// The ratios, round by round, of `c`'s median to `base`'s (rounds both ran in).
fn paired_ratios(c: &Command, base: &Command) -> Vec<f64> {
    c.rounds
        .iter()
        .filter_map(|(round, samples)| {
            let mine = quantile(samples, 0.5)?;
            let theirs = quantile(base.rounds.get(round)?, 0.5)?;
            (theirs > 0.0).then(|| mine / theirs)
        })
        .collect()
}

fn table(commands: &[Command]) -> String {
    let Some(base) = commands.first() else {
        return String::new();
    };
    let width = commands.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!(
        "{:<width$}  {:>5}  {:<26}  {:<22}  {}\n",
        "command",
        "runs",
        "ms: median (p10–p90)",
        "÷ first: median (range)",
        "peak RSS MiB: median (max)"
    );
    for c in commands {
        let ratios = paired_ratios(c, base);
        let ratio = match (
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.0),
            quantile(&ratios, 1.0),
        ) {
            (Some(m), Some(lo), Some(hi)) => format!("{m:6.2}  ({lo:.2}–{hi:.2})"),
            _ => "-".to_string(),
        };
        let rss = match (quantile(&c.rss_kib, 0.5), quantile(&c.rss_kib, 1.0)) {
            (Some(m), Some(hi)) => format!("{:5.1}  ({:.1})", m / 1024.0, hi / 1024.0),
            _ => "-".to_string(),
        };
        let all = c.all();
        out.push_str(&format!(
            "{:<width$}  {:>5}  {:<26}  {:<22}  {rss}\n",
            c.name,
            all.len(),
            summary_ms(&all),
            ratio,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_paired_ratios_per_round() {
        // Round 1 is twice as slow for both: the paired ratio stays 3.
        let times = "1\ttw\t1000\n1\tnode\t3000\n2\ttw\t2000\n2\tnode\t6000\n\
                     1\ttw\t1000\n1\tnode\t3000\n";
        let mut commands = parse_times(times).expect("parsed");
        assert_eq!(commands.len(), 2);
        assert_eq!(commands[0].name, "tw");
        assert_eq!(paired_ratios(&commands[1], &commands[0]), vec![3.0, 3.0]);
        add_rss(&mut commands, "tw\t10240\ntw\t20480\n").expect("rss");
        let t = table(&commands);
        let tw = t.lines().nth(1).expect("tw row");
        assert!(tw.starts_with("tw  "), "{t}");
        assert!(tw.contains("1.00"), "{t}");
        assert!(tw.contains("20.0"), "{t}");
        let node = t.lines().nth(2).expect("node row");
        assert!(node.contains("3.00  (3.00–3.00)"), "{t}");
    }

    #[test]
    fn malformed_lines_and_empty_files_are_errors() {
        assert!(parse_times("1\ttw\t1000\n1 tw 1000\n").is_err());
        assert!(parse_times("x\ttw\t1000\n").is_err());
        assert!(add_rss(&mut Vec::new(), "tw 10\n").is_err());
        assert!(parse_times("").is_err());
    }
}
