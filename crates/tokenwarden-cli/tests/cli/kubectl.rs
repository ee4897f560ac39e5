//! `token --format exec-credential` driven by the real `kubectl` (an exec credential plugin in
//! a kubeconfig, `client.authentication.k8s.io/v1` and `/v1beta1`) against an HTTPS server on
//! loopback that answers only a bearer token mockauth's API accepts. kubectl sends exec-plugin
//! credentials only over TLS: the server has a self-signed certificate made with `openssl`, and
//! the kubeconfig says `insecure-skip-tls-verify`.
//!
//! kubectl is a Debian package (`kubernetes-client`); without it the test is skipped with a
//! message, except under `CI=true`, where it fails.

use crate::sessions::{P, logged_in, mock};
use crate::util::{Env, Run};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// True when `tool` runs; otherwise a skip message, or a failure under `CI=true`.
pub fn have(tool: &str, args: &[&str], package: &str) -> bool {
    let found = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{tool}` is not installed: CI must install the Debian package `{package}`"
        );
        eprintln!("SKIPPED: `{tool}` is not installed (Debian package `{package}`)");
    }
    found
}

/// A self-signed certificate and its key for 127.0.0.1 (DER), made with `openssl`.
fn certificate(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.der",
        "-outform",
        "DER",
        "-subj",
        "/CN=127.0.0.1",
        "-days",
        "2",
    ]);
    run(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
    ]);
    let read = |f: &str| std::fs::read(dir.join(f)).expect("read");
    (read("cert.der"), read("key.der"))
}

/// Serves HTTPS until `stop`: 200 `ok` for a bearer `valid` accepts, 401 otherwise.
fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    stop: &AtomicBool,
    valid: &(dyn Fn(&str) -> bool + Sync),
) {
    listener.set_nonblocking(true).expect("nonblocking");
    while !stop.load(Ordering::SeqCst) {
        let tcp = match listener.accept() {
            Ok((tcp, _)) => tcp,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => panic!("accept: {e}"),
        };
        tcp.set_nonblocking(false).expect("blocking");
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
            continue;
        };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut bearer = None;
        {
            let mut reader = BufReader::new(&mut tls);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    bearer = v.trim().strip_prefix("Bearer ").map(str::to_string);
                }
            }
        }
        let answer: &[u8] = match bearer {
            Some(t) if valid(&t) => {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            }
            _ => {
                b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 91\r\nConnection: close\r\n\r\n{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"Unauthorized\",\"code\":401}"
            }
        };
        let _ = tls.write_all(answer);
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}

/// A kubeconfig whose user runs tokenwarden as its exec credential plugin.
fn kubeconfig(port: u16, version: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_tokenwarden");
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:{port}
    insecure-skip-tls-verify: true
users:
- name: me
  user:
    exec:
      apiVersion: client.authentication.k8s.io/{version}
      command: {bin}
      args: [\"--profile\", \"{P}\", \"token\", \"--format\", \"exec-credential\"]
      interactiveMode: Never
contexts:
- name: local
  context:
    cluster: local
    user: me
current-context: local
"
    )
}

fn kubectl(env: &Env, config: &Path) -> Run {
    let home = env.home().join("kube-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let out = Command::new("kubectl")
        .args(["get", "--raw", "/healthz", "--request-timeout=20s"])
        .env("KUBECONFIG", config)
        .env("HOME", &home)
        .env("TOKENWARDEN_HOME", env.home())
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The ExecCredential versions this kubectl speaks: v1beta1 always, v1 from kubectl 1.22 on
/// (Debian bookworm's `kubernetes-client` is 1.20).
fn versions() -> Vec<&'static str> {
    let out = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .expect("kubectl runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let minor: u32 = doc["clientVersion"]["minor"]
        .as_str()
        .map(|m| m.trim_end_matches('+'))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if minor >= 22 {
        vec!["v1", "v1beta1"]
    } else {
        eprintln!("kubectl 1.{minor} speaks only client.authentication.k8s.io/v1beta1");
        vec!["v1beta1"]
    }
}

#[test]
fn kubectl_gets_its_bearer_from_the_exec_credential_plugin() {
    if !have("kubectl", &["version", "--client"], "kubernetes-client") {
        return;
    }
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    let (cert, key) = certificate(&env.home());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .expect("a TLS configuration");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = AtomicBool::new(false);
    let valid = |token: &str| mock.resource_status(token) == 200;
    let config = Arc::new(config);
    std::thread::scope(|s| {
        s.spawn(|| serve(listener, config.clone(), &stop, &valid));
        let mut runs = Vec::new();
        for version in versions() {
            let file = env.home().join(format!("kubeconfig-{version}"));
            std::fs::write(&file, kubeconfig(port, version)).expect("write");
            runs.push((version, kubectl(&env, &file)));
        }
        env.run(&["--profile", P, "logout", "--local-only"]).code(0);
        let file = env.home().join("kubeconfig-v1beta1");
        let logged_out = kubectl(&env, &file);
        stop.store(true, Ordering::SeqCst);
        for (version, run) in runs {
            assert_eq!(run.code, 0, "{version}: {}", run.stderr);
            assert_eq!(run.stdout.trim(), "ok", "{version}: {}", run.stderr);
        }
        assert_ne!(logged_out.code, 0, "{}", logged_out.stdout);
        assert!(
            logged_out.stderr.contains("tokenwarden --profile s login"),
            "{}",
            logged_out.stderr
        );
    });
}
