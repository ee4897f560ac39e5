//! A throwaway PostgreSQL cluster for the fleet store's tests (shared with the CLI's tests).
//!
//! The cluster is made with the Debian package's binaries (`/usr/lib/postgresql/<ver>/bin`,
//! the newest), `initdb` into a temporary directory (as the unprivileged `postgres` user when
//! the tests run as root, as CI does), listening on 127.0.0.1 on a free port and on a socket in
//! that directory, trust authentication. [`shared`] starts one per test binary, each test
//! taking a database of its own ([`Cluster::database`]); a test that restarts the server starts
//! a cluster of its own ([`Cluster::start`]), stopped when it is dropped. A guardian process
//! stops every cluster (by its postmaster's pid file) and removes its directory when the test
//! binary exits, however it exits.
//!
//! Where PostgreSQL is not installed the tests that need it are skipped with a message on
//! stderr; under `CI=true` they fail instead.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// Run the server's tools as this user (`postgres` when the tests run as root).
    as_user: Option<String>,
    stop_on_drop: bool,
    tls: bool,
}

/// A database of a cluster, for one test.
pub struct Database {
    pub url: String,
    pub name: String,
}

/// The newest installed PostgreSQL's binaries.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// None when PostgreSQL is missing (after saying so); panics under `CI=true`.
fn available() -> Option<PathBuf> {
    match pg_bin() {
        Some(bin) => Some(bin),
        None if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "PostgreSQL is not installed (Debian package postgresql): the fleet store's tests need it, and CI must install it"
        ),
        None => {
            eprintln!(
                "skipped: PostgreSQL is not installed (apt-get install postgresql); the fleet store's tests need it"
            );
            None
        }
    }
}

/// The cluster shared by the tests of this binary; `None` (skipped) without PostgreSQL.
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let mut c = Cluster::start()?;
            // It lives as long as the test binary; the guardian stops it.
            c.stop_on_drop = false;
            Some(c)
        })
        .as_ref()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether this process runs as root (then the server runs as `postgres`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn id_of(user: &str, flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no user {user} to run the throwaway cluster"))
}

impl Cluster {
    /// A new cluster of its own (stopped when dropped); `None` (skipped) without PostgreSQL.
    pub fn start() -> Option<Cluster> {
        Self::start_with(false)
    }

    /// A new cluster of its own that also offers TLS, with a certificate for 127.0.0.1 signed
    /// by a CA of its own ([`Cluster::ca_file`]), made with the `openssl` command.
    pub fn start_tls() -> Option<Cluster> {
        Self::start_with(true)
    }

    /// The CA certificate that signed a TLS cluster's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Makes a CA and a server certificate for 127.0.0.1 in the data directory.
    fn make_certificates(&self) {
        let data = self.dir.join("data");
        let ext = self.dir.join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .output()
                .expect("openssl runs (it makes the test certificates)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=tw test CA",
            "-days",
            "2",
        ]);
        openssl(&ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&csr);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        for name in ["server.crt", "server.key"] {
            let to = data.join(name);
            std::fs::copy(self.dir.join(name), &to).expect("copy into the data directory");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some(user) = &self.as_user {
                std::os::unix::fs::chown(&to, Some(id_of(user, "-u")), Some(id_of(user, "-g")))
                    .expect("chown");
            }
        }
    }

    fn start_with(tls: bool) -> Option<Cluster> {
        let bin = available()?;
        let dir = std::env::temp_dir().join(format!(
            "tw-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let as_user = is_root().then(|| "postgres".to_string());
        if let Some(user) = &as_user {
            std::os::unix::fs::chown(&dir, Some(id_of(user, "-u")), Some(id_of(user, "-g")))
                .expect("chown the cluster dir");
        }
        let c = Cluster {
            bin,
            dir,
            port: free_port(),
            as_user,
            stop_on_drop: true,
            tls,
        };
        let out = c
            .tool("initdb")
            .args([
                "-D",
                &c.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tls {
            c.make_certificates();
        }
        c.guard();
        c.pg_ctl_start();
        Some(c)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// One of the server's tools, run as the cluster's user.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut c = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        c.stdin(Stdio::null());
        c
    }

    fn pg_ctl_start(&self) {
        let log = self.dir.join("server.log").display().to_string();
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        if self.tls {
            opts.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let out = self
            .tool("pg_ctl")
            .args(["-D", &self.data(), "-l", &log, "-w", "-o", &opts, "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "postgres did not start: {}",
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: connections are ended at once).
    pub fn stop(&self) {
        let _ = self
            .tool("pg_ctl")
            .args(["-D", &self.data(), "-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Starts the server again after [`Cluster::stop`], on the same port.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    /// A guardian that stops the server and removes its directory once this test binary has
    /// exited (it checks every second).
    fn guard(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.as_user {
            Some(user) => format!(
                "runuser -u {user} -- {} -D {} -m immediate -w stop",
                pg_ctl.display(),
                self.data()
            ),
            None => format!(
                "{} -D {} -m immediate -w stop",
                pg_ctl.display(),
                self.data()
            ),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        // Started in the background by a shell that exits at once (and is waited for): the
        // guardian is nobody's child here, so it outlives this process without a zombie.
        let started = Command::new("sh")
            .args(["-c", &format!("({script}) >/dev/null 2>&1 </dev/null &")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the cluster's guardian starts");
        assert!(started.success(), "the cluster's guardian did not start");
    }

    /// Runs `sql` in database `db` (as the superuser), failing the test when it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .tool("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-qAtX",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A fresh, empty database for one test, and its URL (user `postgres`, no password).
    pub fn database(&self) -> Database {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        Database {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            name,
        }
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Polls `cond` every 20 ms until it holds, failing after `within`.
    pub fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);
