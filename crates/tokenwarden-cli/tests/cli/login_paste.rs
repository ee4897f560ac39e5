//! `login --paste` against mockauth's paste page, over a pipe (no listener anywhere), and what
//! follows from a refresh token that expires in two days: `status`, `token`'s once-a-day
//! warning (stderr and the event log), `doctor`.

use crate::login_util::{DEADLINE, Mock, home_with, stored};
use crate::util::{Env, Run};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// mockauth whose refresh tokens expire in two days (and say so).
fn mock_two_day_refresh() -> Mock {
    Mock::start(mockauth::Config {
        auto_approve: true,
        refresh_ttl: 2 * DAY,
        ..mockauth::Config::default()
    })
}

/// A profile whose paste login redirects to mockauth's paste page.
fn paste_profile(name: &str, issuer: &str) -> String {
    format!(
        "[profiles.{name}]\nissuer = \"{issuer}\"\nclient_id = \"cli\"\n\
         paste_redirect_uri = \"{issuer}/oauth/code/callback\"\n\
         scopes = [\"openid\", \"offline_access\"]\n"
    )
}

/// `login --paste` running with its standard input a pipe.
struct Pasting {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Pasting {
    fn start(env: &Env, profile: &str) -> Pasting {
        let mut child = env
            .cmd()
            .args(["--profile", profile, "login", "--paste", "--timeout", "30s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tokenwarden");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Pasting {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The authorization URL, the first stderr line that is a URL.
    fn url(&mut self) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.starts_with("http") {
                        return l;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no URL on stderr; saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// Writes `text` and a line break, and closes standard input.
    fn paste(&mut self, text: &str) {
        let mut stdin = self.stdin.take().expect("stdin still open");
        writeln!(stdin, "{text}").expect("write to stdin");
    }

    fn finish(mut self) -> Run {
        drop(self.stdin.take());
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("login --paste did not exit: {}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(l) = self.lines.recv_timeout(DEADLINE) {
            self.seen.push(l);
        }
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.seen.join("\n"),
        }
    }
}

/// What mockauth's paste page shows for `url` (followed like `curl -L`): `CODE#STATE`.
fn shown_code(mock: &Mock, url: &str) -> String {
    let (status, page) = mock.get(url);
    assert_eq!(status, 200, "{page}");
    let start = page.find("<code id=\"code\">").expect("a code on the page") + 16;
    let end = start + page[start..].find("</code>").expect("</code>");
    let code = page[start..end].to_string();
    assert!(code.contains('#'), "{code}");
    code
}

#[test]
fn a_paste_login_over_a_pipe_checks_the_state_and_stores_the_tokens() {
    let mock = mock_two_day_refresh();
    let env = home_with(&[paste_profile("p", &mock.issuer())]);

    // A code whose state is not this login's is refused before any exchange.
    let mut login = Pasting::start(&env, "p");
    let url = login.url();
    assert!(url.contains("redirect_uri="), "{url}");
    let code = shown_code(&mock, &url);
    let (bare, _) = code.split_once('#').unwrap();
    login.paste(&format!("{bare}#not-the-state"));
    let run = login.finish();
    run.code(1);
    assert!(
        run.stderr.contains("belongs to another login"),
        "{}",
        run.stderr
    );
    assert!(stored(&env, "p").is_none(), "nothing stored");

    // The page's own CODE#STATE logs in.
    let mut login = Pasting::start(&env, "p");
    let url = login.url();
    let code = shown_code(&mock, &url);
    login.paste(&code);
    let run = login.finish();
    run.code(0);
    assert!(run.stderr.contains("Logged in"), "{}", run.stderr);
    let tokens = stored(&env, "p").expect("tokens stored");
    let horizon = tokens
        .refresh_token_expires_at
        .expect("refresh token expiry kept");
    let left = horizon
        .duration_since(std::time::SystemTime::now())
        .expect("in the future");
    assert!(left > DAY && left <= 2 * DAY, "{left:?}");

    // The same code again (without its state): the provider refuses it, and the hint says why.
    let mut again = Pasting::start(&env, "p");
    again.url();
    again.paste(bare);
    let run = again.finish();
    run.code(3);
    assert!(run.stderr.contains("works once"), "{}", run.stderr);
}

#[test]
fn the_address_the_browser_ended_at_can_be_pasted() {
    let mock = Mock::auto();
    let env = home_with(&[crate::login_util::web_profile("w", &mock.issuer())]);
    let mut login = Pasting::start(&env, "w");
    let url = login.url();
    // Nobody listens on the loopback redirect: the browser would show an error page, with
    // the code in its address bar.
    let redirected = mock.location(&url);
    assert!(
        redirected.starts_with("http://127.0.0.1/callback?"),
        "{redirected}"
    );
    login.paste(&redirected);
    login.finish().code(0);
    assert!(stored(&env, "w").is_some());
}

#[test]
fn a_refresh_token_expiring_in_two_days_shows_in_status_warns_once_a_day_and_fails_doctor() {
    let mock = mock_two_day_refresh();
    let env = home_with(&[paste_profile("p", &mock.issuer())]);
    let mut login = Pasting::start(&env, "p");
    let url = login.url();
    login.paste(&shown_code(&mock, &url));
    login.finish().code(0);

    let status = env.run(&["--profile", "p", "status", "--json"]);
    status.code(0);
    let rows = status.json();
    let row = &rows[0];
    let at = row["refresh_token_expires_at"]
        .as_str()
        .expect("an RFC 3339 time");
    assert!(humantime::parse_rfc3339(at).is_ok(), "{at}");
    assert!(
        row["warnings"][0]
            .as_str()
            .unwrap_or("")
            .contains("expires in"),
        "{row}"
    );
    let text = env.run(&["--profile", "p", "status"]);
    assert!(
        text.stdout.contains("refresh token expires in"),
        "{}",
        text.stdout
    );

    let first = env.run(&["--profile", "p", "token"]);
    first.code(0);
    assert!(
        first
            .stderr
            .contains("the refresh token of profile `p` expires in"),
        "{}",
        first.stderr
    );
    let second = env.run(&["--profile", "p", "token", "--json"]);
    second.code(0);
    assert!(
        !second.stderr.contains("refresh token"),
        "once a day: {}",
        second.stderr
    );
    let doc = second.json();
    assert_eq!(doc["refresh_token_expires_soon"], true, "{doc}");
    assert!(doc["refresh_token_expires_at"].is_string(), "{doc}");
    let events = env.run(&["--profile", "p", "events", "--json"]);
    let warned = events
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .filter(|e| e["operation"] == "expiry_warning")
        .count();
    assert_eq!(warned, 1, "{}", events.stdout);

    let doctor = env.run(&["--profile", "p", "doctor", "--offline"]);
    assert_ne!(doctor.code, 0, "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("refresh_token_expiry"),
        "{}",
        doctor.stdout
    );
}
