//! `tokenwarden git-credential` driven by the real `git`: `git credential fill` (with
//! `--profile`, through a profile's `git_hosts`, and as `git-credential-tokenwarden` on PATH),
//! a failure that gives git no password, and `git ls-remote` against a smart-HTTP server on
//! loopback (`git http-backend` behind a small server that accepts only a token mockauth's
//! API accepts).

use crate::login::Mock;
use crate::sessions::{P, logged_in, mock};
use crate::util::{Env, Run};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tokenwarden");

/// `git ARGS` with a clean configuration (a temporary HOME, no system config, no prompts),
/// the test's TOKENWARDEN_HOME, and `input` on stdin.
fn git(env: &Env, args: &[&str], input: &str, vars: &[(&str, &str)]) -> Run {
    let home = env.home().join("git-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let mut c = Command::new("git");
    c.args(args)
        .env("HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env_remove("TOKENWARDEN_PROFILE")
        .env("TOKENWARDEN_HOME", env.home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("git runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to git");
    let out = child.wait_with_output().expect("git ends");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn token(env: &Env) -> String {
    let run = env.run(&["--profile", P, "token"]);
    run.code(0);
    run.stdout.trim().to_string()
}

const FILL: &str = "protocol=https\nhost=git.example.test\npath=org/repo.git\n\n";

#[test]
fn git_credential_fill_gets_a_valid_token() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    let t = token(&env);
    let helper = format!("!{BIN} --profile {P} git-credential");
    let fill = git(
        &env,
        &[
            "-c",
            "credential.helper=",
            "-c",
            &format!("credential.helper={helper}"),
            "credential",
            "fill",
        ],
        FILL,
        &[],
    );
    fill.code(0);
    assert!(
        fill.stdout.lines().any(|l| l == format!("password={t}")),
        "{}",
        fill.stdout
    );
    assert!(
        fill.stdout.lines().any(|l| l == "username=oauth2"),
        "{}",
        fill.stdout
    );

    // git's `reject` (the server refused the password) marks that token rejected: the next
    // one is fresh.
    let refused =
        format!("protocol=https\nhost=git.example.test\nusername=oauth2\npassword={t}\n\n");
    git(
        &env,
        &[
            "-c",
            "credential.helper=",
            "-c",
            &format!("credential.helper={helper}"),
            "credential",
            "reject",
        ],
        &refused,
        &[],
    )
    .code(0);
    let t = token(&env);
    assert_ne!(
        t,
        refused
            .lines()
            .nth(3)
            .unwrap_or("")
            .trim_start_matches("password=")
    );

    // No --profile: the profile whose git_hosts lists the host; another host gets nothing.
    env.run(&["profile", "set", P, "git_hosts", "git.example.test"])
        .code(0);
    let mapped = format!("credential.helper=!{BIN} git-credential");
    let fill = git(
        &env,
        &[
            "-c",
            "credential.helper=",
            "-c",
            &mapped,
            "credential",
            "fill",
        ],
        FILL,
        &[],
    );
    assert!(
        fill.code(0).stdout.contains(&format!("password={t}")),
        "{}",
        fill.stdout
    );
    let other = "protocol=https\nhost=other.example.test\n\n";
    let none = git(
        &env,
        &[
            "-c",
            "credential.helper=",
            "-c",
            &mapped,
            "credential",
            "fill",
        ],
        other,
        &[],
    );
    assert_ne!(none.code, 0, "{}", none.stdout);
    assert!(!none.stdout.contains("password="), "{}", none.stdout);

    // As `credential.helper = tokenwarden`: git runs git-credential-tokenwarden from PATH.
    let bin_dir = env.home().join("bin");
    std::fs::create_dir_all(&bin_dir).expect("mkdir");
    std::os::unix::fs::symlink(BIN, bin_dir.join("git-credential-tokenwarden")).expect("link");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let fill = git(
        &env,
        &[
            "-c",
            "credential.helper=",
            "-c",
            "credential.helper=tokenwarden",
            "credential",
            "fill",
        ],
        FILL,
        &[("PATH", &path)],
    );
    assert!(
        fill.code(0).stdout.contains(&format!("password={t}")),
        "{}",
        fill.stderr
    );

    // Logged out: a clear message, a failing git, and never an empty password.
    env.run(&["--profile", P, "logout", "--local-only"]).code(0);
    let helper = format!("credential.helper=!{BIN} --profile {P} git-credential");
    let failed = git(
        &env,
        &[
            "-c",
            "credential.helper=",
            "-c",
            &helper,
            "credential",
            "fill",
        ],
        FILL,
        &[],
    );
    assert_ne!(failed.code, 0);
    assert!(!failed.stdout.contains("password="), "{}", failed.stdout);
    assert!(
        failed.stderr.contains("tokenwarden --profile s login"),
        "{}",
        failed.stderr
    );
}

/// A smart-HTTP git server on loopback: `git http-backend` for every request whose Basic
/// password `valid` accepts; 401 with a Basic challenge otherwise.
struct GitServer {
    port: u16,
}

impl GitServer {
    fn serve(
        listener: TcpListener,
        root: &Path,
        stop: &AtomicBool,
        valid: &(dyn Fn(&str) -> bool + Sync),
    ) {
        listener.set_nonblocking(true).expect("nonblocking");
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    let _ = handle(stream, root, valid);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// One request, answered and closed.
fn handle(stream: TcpStream, root: &Path, valid: &dyn Fn(&str) -> bool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let body = match (header("content-length"), header("transfer-encoding")) {
        (Some(n), _) => {
            let mut b = vec![0; n.parse().unwrap_or(0)];
            reader.read_exact(&mut b)?;
            b
        }
        (None, Some(te)) if te.eq_ignore_ascii_case("chunked") => chunked(&mut reader)?,
        _ => Vec::new(),
    };
    let mut out = stream;
    let credentials = header("authorization")
        .and_then(|a| a.strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let user = match credentials.as_deref().and_then(|c| c.split_once(':')) {
        Some((user, password)) if valid(password) => user.to_string(),
        _ => {
            return out.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
        .env("REMOTE_USER", &user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    cgi.stdin.take().expect("stdin").write_all(&body)?;
    let answer = cgi.wait_with_output()?.stdout;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| answer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .unwrap_or((answer.len(), 0));
    let head = String::from_utf8_lossy(&answer[..split.0]).into_owned();
    let payload = &answer[split.0 + split.1..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        match h.strip_prefix("Status:") {
            Some(s) => status = s.trim().to_string(),
            None if !h.trim().is_empty() => response.push_str(&format!("{}\r\n", h.trim_end())),
            None => {}
        }
    }
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    )?;
    out.write_all(payload)
}

/// A chunked request body.
fn chunked(reader: &mut impl std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            let mut end = String::new();
            reader.read_line(&mut end)?;
            return Ok(body);
        }
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..n]);
    }
}

/// A bare repository `repo.git` under `root` with one commit on `main`; its id.
fn repository(env: &Env, root: &Path) -> String {
    let work: PathBuf = env.home().join("work");
    let plain = |args: &[&str]| {
        let run = git(env, args, "", &[]);
        run.code(0);
        run.stdout
    };
    let bare = root.join("repo.git");
    plain(&["init", "-q", "--bare", bare.to_str().expect("utf-8")]);
    plain(&["init", "-q", work.to_str().expect("utf-8")]);
    let w = work.to_str().expect("utf-8");
    plain(&[
        "-C",
        w,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.test",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "first",
    ]);
    plain(&[
        "-C",
        w,
        "push",
        "-q",
        bare.to_str().expect("utf-8"),
        "HEAD:refs/heads/main",
    ]);
    plain(&["-C", w, "rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn git_ls_remote_over_smart_http_with_the_helper() {
    let mock: Mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    let root = env.home().join("repos");
    std::fs::create_dir_all(&root).expect("mkdir");
    let head = repository(&env, &root);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = GitServer {
        port: listener.local_addr().expect("addr").port(),
    };
    let stop = AtomicBool::new(false);
    let valid = |password: &str| mock.resource_status(password) == 200;
    std::thread::scope(|s| {
        s.spawn(|| GitServer::serve(listener, &root, &stop, &valid));
        let url = format!("http://127.0.0.1:{}/repo.git", server.port);
        let helper = format!("credential.helper=!{BIN} --profile {P} git-credential");
        let without = git(
            &env,
            &["-c", "credential.helper=", "ls-remote", &url],
            "",
            &[],
        );
        let with = git(
            &env,
            &["-c", "credential.helper=", "-c", &helper, "ls-remote", &url],
            "",
            &[],
        );
        // A token the API does not accept is refused, and git says so.
        let stale = git(
            &env,
            &[
                "-c",
                "credential.helper=",
                "-c",
                "credential.helper=!echo password=not-a-token",
                "ls-remote",
                &url,
            ],
            "",
            &[],
        );
        stop.store(true, Ordering::SeqCst);
        assert_ne!(without.code, 0, "the server lets nobody in without a token");
        with.code(0);
        assert!(
            with.stdout.contains(&format!("{head}\trefs/heads/main")),
            "{}\n{}",
            with.stdout,
            with.stderr
        );
        assert_ne!(stale.code, 0, "{}", stale.stdout);
    });
}
