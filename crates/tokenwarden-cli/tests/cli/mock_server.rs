//! `tokenwarden mock-server` as a user runs it: one JSON line on stdout once listening, the
//! flags applied (the provider look-alike ones included), a request log on stderr, and a clean
//! exit on SIGTERM or SIGINT.

use crate::util::Env;
use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

struct Server {
    child: Child,
    ready: serde_json::Value,
    stderr: std::thread::JoinHandle<String>,
    rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(env: &Env, args: &[&str]) -> Server {
        tokenwarden::http::install_crypto_provider();
        let mut child = env
            .cmd()
            .arg("mock-server")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tokenwarden mock-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep reading so that the server never blocks on a full pipe.
            for _ in lines {}
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let line = match rx.recv_timeout(DEADLINE) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                panic!("mock-server printed no line: {other:?}");
            }
        };
        let ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the ready line is not JSON ({e}): {line}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Server {
            child,
            ready,
            stderr,
            rt,
        }
    }

    fn issuer(&self) -> String {
        self.ready["issuer"].as_str().expect("issuer").to_string()
    }

    fn get_json(&self, url: &str) -> (u16, serde_json::Value) {
        self.rt.block_on(async {
            let resp = reqwest::get(url).await.expect("GET answers");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or_default())
        })
    }

    fn post_form(&self, url: &str, form: &[(&str, &str)]) -> serde_json::Value {
        self.rt.block_on(async {
            reqwest::Client::new()
                .post(url)
                .form(form)
                .send()
                .await
                .expect("POST answers")
                .json()
                .await
                .expect("a JSON body")
        })
    }

    /// GET with headers: (status, headers, body as text).
    fn get_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        self.rt.block_on(async {
            let mut req = reqwest::Client::new().get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.expect("GET answers");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            (status, headers, resp.text().await.unwrap_or_default())
        })
    }

    /// Sends `signal` and waits (with a deadline) for the exit: (code, stderr).
    fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        let ok = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {signal} failed");
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("mock-server did not exit after {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.code(), self.stderr.join().unwrap_or_default())
    }
}

#[test]
fn prints_one_ready_line_serves_and_stops_cleanly_on_sigterm() {
    let env = Env::new();
    let server = Server::start(&env, &["--auto-approve", "--access-ttl", "90s"]);
    let issuer = server.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    assert_eq!(
        server.ready["admin"].as_str(),
        Some(format!("{issuer}/admin").as_str())
    );
    let keys: Vec<_> = server
        .ready
        .as_object()
        .expect("an object")
        .keys()
        .collect();
    assert_eq!(keys, ["admin", "issuer"].iter().collect::<Vec<_>>());

    let (status, meta) =
        server.get_json(&format!("{issuer}/.well-known/oauth-authorization-server"));
    assert_eq!(status, 200);
    assert_eq!(meta["issuer"], issuer.as_str());
    let token = server.post_form(
        meta["token_endpoint"].as_str().expect("token endpoint"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "svc-secret"),
        ],
    );
    assert_eq!(token["expires_in"], 90, "--access-ttl applies: {token}");

    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "a clean exit; stderr:\n{stderr}");
    assert!(
        stderr.contains("request") && stderr.contains("/token"),
        "each request is logged on stderr:\n{stderr}"
    );
    assert!(!stderr.contains("svc-secret"), "{stderr}");
}

#[test]
fn no_admin_says_null_and_sigint_stops_it() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-admin"]);
    assert!(server.ready["admin"].is_null(), "{}", server.ready);
    let (status, _) = server.get_json(&format!("{}/admin/stats", server.issuer()));
    assert_eq!(status, 404, "no admin API");
    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
}

#[test]
fn a_bad_config_file_is_refused_with_its_path() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mock.toml");
    std::fs::write(&path, "access_ttl = \"soon\"\n").expect("write");
    let run = env.run(&["mock-server", "--config", path.to_str().expect("utf-8")]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.is_empty(), "no ready line: {}", run.stdout);
    assert!(run.stderr.contains("mock.toml"), "{}", run.stderr);
}

const GUID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

#[test]
fn provider_look_alike_flags_apply() {
    let env = Env::new();
    let server = Server::start(
        &env,
        &[
            "--issuer-path",
            "/p",
            "--dead-token-status",
            "403",
            "--require-resource-header",
            "anthropic-beta: oauth-2025-04-20",
            "--revoke-previous-on-refresh",
            "--discovery-omit",
            "revocation_endpoint",
            "--metadata-location",
            "appended",
            "--tenant-id",
            GUID,
        ],
    );
    let issuer = server.issuer();
    assert!(issuer.ends_with("/p"), "{issuer}");
    let (status, meta) =
        server.get_json(&format!("{issuer}/.well-known/oauth-authorization-server"));
    assert_eq!(status, 200, "appended metadata");
    assert!(meta.get("revocation_endpoint").is_none(), "{meta}");
    let (status, ms) = server.get_json(&format!(
        "{issuer}/common/v2.0/.well-known/openid-configuration"
    ));
    assert_eq!(status, 200);
    assert_eq!(ms["issuer"], format!("{issuer}/{{tenantid}}/v2.0"));

    let api = format!("{issuer}/v1/messages");
    let (status, _, body) = server.get_with(&api, &[("authorization", "Bearer mat_x")]);
    assert_eq!(status, 400, "the required header: {body}");
    assert!(body.contains("anthropic-beta"), "{body}");
    let (status, headers, _) = server.get_with(
        &api,
        &[
            ("authorization", "Bearer mat_x"),
            ("anthropic-beta", "oauth-2025-04-20"),
        ],
    );
    assert_eq!(status, 403, "the dead-token status");
    assert!(headers.get("www-authenticate").is_none());
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
}

#[test]
fn bad_look_alike_flags_are_refused() {
    let env = Env::new();
    for (args, says) in [
        (&["--dead-token-status", "404"][..], "401 or 403"),
        (
            &["--require-resource-header", "no-colon"][..],
            "Name: value",
        ),
        (&["--metadata-location", "sideways"][..], "appended"),
        (&["--tenant-id", "common"][..], "GUID"),
        (&["--discovery-omit", "issuer"][..], "discovery_omit"),
    ] {
        let mut all = vec!["mock-server"];
        all.extend_from_slice(args);
        let run = env.run(&all);
        assert_ne!(run.code, 0, "{args:?}");
        assert!(run.stdout.is_empty(), "no ready line: {}", run.stdout);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}
