//! Helpers for the `login_*` modules: mockauth in a runtime of its own, homes with profiles,
//! a running `tokenwarden` whose stderr is read line by line, and store inspection.

#![allow(dead_code)]

use crate::util::{Env, Run};
use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokenwarden::store::{KeySource, SqliteStore, Store as _};
use tokenwarden::token::TokenSet;

/// How long any one step may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// mockauth in a runtime of its own, serving while the test runs the binary.
pub struct Mock {
    pub server: mockauth::ServerHandle,
    rt: tokio::runtime::Runtime,
}

impl Mock {
    pub fn start(config: mockauth::Config) -> Mock {
        tokenwarden::http::install_crypto_provider();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(mockauth::Server::start(config))
            .expect("mockauth starts");
        Mock { server, rt }
    }

    /// Auto-approving, with a 1 s device interval.
    pub fn auto() -> Mock {
        Mock::start(mockauth::Config {
            auto_approve: true,
            device_interval: Duration::from_secs(1),
            ..mockauth::Config::default()
        })
    }

    pub fn issuer(&self) -> String {
        self.server.issuer()
    }

    /// GET `url` following redirects, as `curl -L` does: (status, body).
    pub fn get(&self, url: &str) -> (u16, String) {
        self.rt.block_on(async {
            let resp = reqwest::get(url).await.expect("GET answers");
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        })
    }

    /// GET `url` without following redirects: the `Location`.
    pub fn location(&self, url: &str) -> String {
        self.rt.block_on(async {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let resp = client.get(url).send().await.expect("GET answers");
            resp.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("no redirect: {}", resp.status()))
                .to_string()
        })
    }

    /// POST a form, following redirects: the final status.
    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> u16 {
        self.rt.block_on(async {
            reqwest::Client::new()
                .post(url)
                .form(form)
                .send()
                .await
                .expect("POST answers")
                .status()
                .as_u16()
        })
    }

    /// The resource server's answer to `access_token`.
    pub fn resource_status(&self, access_token: &str) -> u16 {
        self.rt.block_on(async {
            reqwest::Client::new()
                .get(self.server.url("/v1/messages"))
                .bearer_auth(access_token)
                .send()
                .await
                .expect("resource answers")
                .status()
                .as_u16()
        })
    }

    /// A refresh attempt with `refresh_token` at the token endpoint: the status.
    pub fn refresh_status(&self, refresh_token: &str) -> u16 {
        self.post_form(
            &self.server.url("/token"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "cli"),
            ],
        )
    }
}

/// A profile for the public client `cli` (browser and device logins, with `openid`).
pub fn web_profile(name: &str, issuer: &str) -> String {
    format!(
        "[profiles.{name}]\nissuer = \"{issuer}\"\nclient_id = \"cli\"\n\
         redirect_uri = \"http://127.0.0.1/callback\"\nscopes = [\"openid\", \"offline_access\"]\n"
    )
}

/// A profile for the confidential client `svc` (client credentials; secret in SVC_SECRET).
pub fn svc_profile(name: &str, issuer: &str) -> String {
    format!(
        "[profiles.{name}]\nissuer = \"{issuer}\"\nclient_id = \"svc\"\n\
         client_secret_env = \"SVC_SECRET\"\nclient_auth = \"client_secret_basic\"\n\
         grant = \"client_credentials\"\n"
    )
}

/// A home (0700) with `profiles` as config.toml (0600).
pub fn home_with(profiles: &[String]) -> Env {
    let env = Env::new();
    env.write_config(&profiles.concat());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let private = |p: &std::path::Path, m| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
        };
        private(&env.home(), 0o700);
        private(&env.config(), 0o600);
    }
    env
}

/// A running `tokenwarden` whose stderr is read line by line as it comes.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Running {
    pub fn spawn(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Running {
        let mut c = env.cmd();
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn tokenwarden");
        let stderr = child.stderr.take().expect("stderr");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first stderr line that `pred` accepts.
    pub fn line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no {what} on stderr; saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// The authorization URL: the line that is a URL and nothing else.
    pub fn url(&mut self) -> String {
        self.line("authorization URL", |l| l.starts_with("http"))
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -INT failed");
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits (with a deadline) for the exit; all output.
    pub fn finish(self) -> Run {
        self.finish_within(DEADLINE)
    }

    /// [`Running::finish`] with a deadline of `within`.
    pub fn finish_within(mut self, within: Duration) -> Run {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "tokenwarden did not exit; stderr so far:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF.
        while let Ok(l) = self.lines.recv_timeout(DEADLINE) {
            self.seen.push(l);
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.seen.join("\n"),
        }
    }
}

/// `login --no-browser` for `profile`, with the printed URL fetched like `curl -L`.
pub fn login_browser(env: &Env, mock: &Mock, profile: &str) -> Run {
    let mut login = Running::spawn(
        env,
        &[
            "--profile",
            profile,
            "login",
            "--no-browser",
            "--timeout",
            "30s",
        ],
        &[],
    );
    let url = login.url();
    let (status, page) = mock.get(&url);
    assert_eq!(status, 200, "{page}");
    login.finish()
}

/// The tokens stored for `profile` (read with the library, as the binary would).
pub fn stored(env: &Env, profile: &str) -> Option<TokenSet> {
    let paths = tokenwarden::paths::Paths::in_dir(env.home());
    let store = SqliteStore::open(&paths, KeySource::KeyFile).expect("store opens");
    store.read(profile).expect("store reads").map(|s| s.tokens)
}

/// Marks the stored token of `profile` rejected, as an API's 401 does: the next `token` must
/// refresh (or renew), whatever its expiry says.
pub fn reject_stored(env: &Env, profile: &str) {
    let paths = tokenwarden::paths::Paths::in_dir(env.home());
    let store = SqliteStore::open(&paths, KeySource::KeyFile).expect("store opens");
    let v = store
        .read(profile)
        .expect("store reads")
        .expect("tokens are stored")
        .version;
    assert!(store.mark_rejected(profile, v).expect("marks"));
}

/// Asserts that `needle` appears in no file under the home directory.
pub fn assert_nowhere_in_files(env: &Env, needle: &str, what: &str) {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&env.home(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("tokens.db")), "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!found, "the {what} is in {} in plaintext", f.display());
    }
}

/// The port a login's callback listener uses, from its authorization URL.
pub fn callback_port(url: &str) -> u16 {
    let u = reqwest::Url::parse(url).expect("URL");
    let (_, redirect) = u
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .expect("redirect_uri");
    reqwest::Url::parse(&redirect)
        .expect("redirect URI")
        .port()
        .expect("a port")
}

/// A query parameter of `url`.
pub fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}
