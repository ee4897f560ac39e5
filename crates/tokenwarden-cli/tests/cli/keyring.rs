//! The store key in the OS keyring, against a real Secret Service started headless for the
//! test (a private D-Bus session bus from `dbus-daemon`, and `gnome-keyring-daemon --unlock`
//! on it: Debian's `dbus-daemon` and `gnome-keyring`); and the fallback to the 0600 key file
//! when no keyring answers.
//!
//! Without those programs the Secret Service test says so and returns, except in CI (`CI`
//! set), where it fails: CI must install them.

use crate::login_util::{DEADLINE, Mock, home_with, svc_profile};
use crate::util::{Env, Run};
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private session bus with an unlocked gnome-keyring on it. Both are stopped on drop.
struct SecretService {
    bus: Child,
    keyring: Child,
    address: String,
    _dir: tempfile::TempDir,
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl SecretService {
    fn start() -> Option<SecretService> {
        let missing: Vec<&str> = ["dbus-daemon", "dbus-send", "gnome-keyring-daemon"]
            .into_iter()
            .filter(|p| !installed(p))
            .collect();
        if !missing.is_empty() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install {} (Debian: dbus-daemon, dbus-bin, gnome-keyring)",
                missing.join(", ")
            );
            eprintln!(
                "skipped: no headless Secret Service here ({} missing)",
                missing.join(", ")
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).expect("mkdir");
        let mut bus = Command::new("dbus-daemon")
            .arg("--session")
            .arg("--nofork")
            .arg("--print-address")
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon starts");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().expect("stdout"))
            .read_line(&mut address)
            .expect("dbus-daemon prints its address");
        let address = address.trim().to_string();
        assert!(address.starts_with("unix:"), "{address}");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon starts");
        // The password of the new login keyring, on standard input.
        let mut stdin = keyring.stdin.take().expect("stdin");
        stdin.write_all(b"test-keyring-password").expect("password");
        drop(stdin);
        let service = SecretService {
            bus,
            keyring,
            address,
            _dir: dir,
        };
        service.wait_until_registered();
        Some(service)
    }

    /// Polls the bus (with a deadline) until the Secret Service's name has an owner.
    fn wait_until_registered(&self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let out = Command::new("dbus-send")
                .args([
                    "--session",
                    "--dest=org.freedesktop.DBus",
                    "--print-reply",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .expect("dbus-send runs");
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Secret Service never registered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the binary with the keyring on, on this bus.
    fn run(&self, env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut all = vec![
            ("TOKENWARDEN_KEYRING", "on"),
            ("DBUS_SESSION_BUS_ADDRESS", self.address.as_str()),
        ];
        all.extend_from_slice(vars);
        env.run_env(args, &all)
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn store_line(doctor: &Run) -> String {
    doctor
        .stdout
        .lines()
        .find(|l| l.contains("store") && l.contains("key from"))
        .unwrap_or_else(|| panic!("no store check:\n{}", doctor.stdout))
        .to_string()
}

#[test]
fn the_key_lives_in_a_secret_service_when_one_answers() {
    let Some(keyring) = SecretService::start() else {
        return;
    };
    let mock = Mock::auto();
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);
    let secret = [("SVC_SECRET", "svc-secret")];
    keyring
        .run(
            &env,
            &["--profile", "svc", "login", "--client-credentials"],
            &secret,
        )
        .code(0);
    assert!(
        !env.home().join("key").exists(),
        "no key file when the keyring holds the key"
    );
    let doctor = keyring.run(&env, &["--profile", "svc", "doctor", "--offline"], &secret);
    assert!(
        store_line(&doctor).contains("the OS keyring"),
        "{}",
        doctor.stdout
    );
    keyring
        .run(&env, &["--profile", "svc", "token"], &secret)
        .code(0);
    // The key is nowhere else: with the keyring off, the store cannot be opened.
    let off = env.run_env(&["--profile", "svc", "token"], &secret);
    off.code(6);
    assert!(off.stderr.contains("key file"), "{}", off.stderr);
    // TOKENWARDEN_KEY wins over the keyring (and is refused: it is not this store's key).
    let other = keyring.run(
        &env,
        &["--profile", "svc", "token"],
        &[
            ("SVC_SECRET", "svc-secret"),
            ("TOKENWARDEN_KEY", "some other passphrase"),
        ],
    );
    other.code(6);
    assert!(other.stderr.contains("TOKENWARDEN_KEY"), "{}", other.stderr);
}

#[test]
fn without_a_keyring_the_key_file_is_used_and_doctor_says_why() {
    let mock = Mock::auto();
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);
    let nowhere = format!("unix:path={}", env.home().join("no-bus-here").display());
    let vars = [
        ("TOKENWARDEN_KEYRING", "on"),
        ("DBUS_SESSION_BUS_ADDRESS", nowhere.as_str()),
        ("SVC_SECRET", "svc-secret"),
    ];
    // On a fresh home, doctor says which key the first login will use, and why.
    let before = env.run_env(&["--profile", "svc", "doctor", "--offline"], &vars);
    assert!(
        before.stdout.contains("a new key file")
            && before.stdout.contains("no OS keyring answered"),
        "{}",
        before.stdout
    );
    env.run_env(
        &["--profile", "svc", "login", "--client-credentials"],
        &vars,
    )
    .code(0);
    assert!(
        env.home().join("key").exists(),
        "the key file is the fallback"
    );
    let doctor = env.run_env(&["--profile", "svc", "doctor", "--offline"], &vars);
    assert!(
        store_line(&doctor).contains("the key file"),
        "{}",
        doctor.stdout
    );
    env.run_env(&["--profile", "svc", "token"], &vars).code(0);
}
