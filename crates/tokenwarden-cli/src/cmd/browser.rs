//! Opening the authorization URL in a browser for `login`: `$BROWSER` first (a `:`-separated
//! list of commands, each run with the URL as its argument, or with `%s` replaced by it, as
//! `xdg-open` and Python's `webbrowser` read it), else the platform's opener (`open` on macOS,
//! `xdg-open` where a display is set). The browser is started and left running; login waits
//! for the callback, not for the browser.

use std::process::{Command, Stdio};

/// How the browser was opened, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// This command was started with the URL.
    With(String),
    /// No browser to open: no `$BROWSER`, no display, or none of the commands started.
    Nothing,
}

/// Opens `url` (see the module docs).
pub fn open(url: &str) -> Opened {
    if let Some(list) = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        for entry in list.split(':').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(cmd) = command_line(entry, url)
                && start(&cmd)
            {
                return Opened::With(entry.to_string());
            }
        }
        return Opened::Nothing;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return Opened::Nothing;
        }
        "xdg-open"
    };
    if start(&[opener.to_string(), url.to_string()]) {
        Opened::With(opener.to_string())
    } else {
        Opened::Nothing
    }
}

/// The program and arguments of one `$BROWSER` entry for `url`: split on spaces, `%s`
/// replaced by the URL, else the URL appended.
fn command_line(entry: &str, url: &str) -> Option<Vec<String>> {
    let words: Vec<&str> = entry.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let mut cmd: Vec<String> = words.iter().map(|w| w.replace("%s", url)).collect();
    if !entry.contains("%s") {
        cmd.push(url.to_string());
    }
    Some(cmd)
}

/// Starts `cmd` detached from our standard streams; true when it started.
fn start(cmd: &[String]) -> bool {
    let Some((prog, args)) = cmd.split_first() else {
        return false;
    };
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_entries_take_the_url_as_xdg_open_reads_them() {
        assert_eq!(
            command_line("firefox --new-tab", "http://x/"),
            Some(vec![
                "firefox".into(),
                "--new-tab".into(),
                "http://x/".into()
            ])
        );
        assert_eq!(
            command_line("w3m %s -o x", "http://x/"),
            Some(vec![
                "w3m".into(),
                "http://x/".into(),
                "-o".into(),
                "x".into()
            ])
        );
        assert_eq!(command_line("  ", "http://x/"), None);
    }
}
