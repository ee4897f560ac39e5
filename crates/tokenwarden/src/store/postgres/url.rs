//! The fleet store's address: a `postgres://` URL (from `[store] url` or
//! `TOKENWARDEN_STORE_URL`) parsed into [`StoreUrl`], with the PostgreSQL conventions for what
//! the URL leaves out (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGSSLMODE`,
//! `PGSSLROOTCERT`) and for the password (`PGPASSWORD`, then the password file `PGPASSFILE`
//! or `~/.pgpass`). tokenwarden never writes a password anywhere, and every message names the
//! database by [`StoreUrl::redacted`] (`postgres://user@host:port/db`), never with one.
//!
//! Accepted query parameters: `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
//! `verify-full`), `sslrootcert` (a PEM file of CA certificates, or `system`),
//! `connect_timeout` (seconds), `application_name`, and `host`/`port` (a `host` starting with
//! `/` is the directory of a Unix socket). Anything else is refused with the list.

use crate::error::{Error, Result};
use crate::secret::SecretString;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable holding the fleet store URL (it wins over `[store] url`).
pub const STORE_URL_ENV: &str = "TOKENWARDEN_STORE_URL";

/// The port PostgreSQL listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 5432;

/// How long connecting may take when the URL sets no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the connection is encrypted (libpq's `sslmode`). tokenwarden verifies the server's
/// certificate whenever it uses TLS: `prefer` and `require` check it as `verify-full` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it (the default), plain otherwise.
    Prefer,
    /// TLS or nothing; the certificate is checked against the roots and the host name.
    Require,
    /// TLS or nothing; the certificate chain is checked, not the host name.
    VerifyCa,
    /// TLS or nothing; chain and host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The name as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address.
    Tcp(String),
    /// The directory holding the server's Unix socket.
    Socket(PathBuf),
}

/// Where the password came from (never the password itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// None was found: the server must not ask (trust, peer or certificate authentication).
    None,
    /// Written in the URL.
    Url,
    /// `PGPASSWORD`.
    Env,
    /// A line of this password file.
    File(PathBuf),
}

/// A parsed fleet store URL.
#[derive(Clone)]
pub struct StoreUrl {
    /// The server.
    pub host: Host,
    /// Its port.
    pub port: u16,
    /// The database.
    pub dbname: String,
    /// The user.
    pub user: String,
    /// How the connection is encrypted.
    pub sslmode: SslMode,
    /// CA certificates to trust instead of the system's (`sslrootcert`).
    pub sslrootcert: Option<PathBuf>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// `application_name`, shown in `pg_stat_activity`.
    pub application_name: String,
    password: Option<SecretString>,
    password_source: PasswordSource,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreUrl")
            .field("url", &self.redacted())
            .field("password", &self.password_source)
            .finish_non_exhaustive()
    }
}

/// A lookup of environment variables (the process's, or a test's).
pub(crate) type Vars<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn var_string(vars: Vars<'_>, name: &str) -> Option<String> {
    vars(name)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.into_string().ok())
}

fn url_error(what: impl std::fmt::Display) -> Error {
    Error::config(format!("the store URL is not valid: {what}")).with_hint(
        "write it as postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full (the password goes in \
         PGPASSWORD or ~/.pgpass, not in the URL)",
    )
}

impl StoreUrl {
    /// True when `s` names a PostgreSQL store (`postgres://` or `postgresql://`).
    pub fn is_postgres(s: &str) -> bool {
        let lower = s.trim().to_ascii_lowercase();
        lower.starts_with("postgres://") || lower.starts_with("postgresql://")
    }

    /// Parses `s` with the process environment for what it leaves out.
    pub fn parse(s: &str) -> Result<StoreUrl> {
        Self::parse_with(s, &|name| std::env::var_os(name))
    }

    /// Parses `s` with `vars` for what it leaves out (testable without the process
    /// environment).
    pub(crate) fn parse_with(s: &str, vars: Vars<'_>) -> Result<StoreUrl> {
        if !Self::is_postgres(s) {
            return Err(url_error(
                "it must start with postgres:// (or postgresql://)",
            ));
        }
        let parsed = url::Url::parse(s.trim()).map_err(url_error)?;
        let decode = |v: &str| {
            percent_decode(v).ok_or_else(|| url_error("a percent-escape is not valid UTF-8"))
        };
        let mut host = match parsed.host_str() {
            Some(h) if !h.is_empty() => Some(Host::Tcp(
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
            )),
            _ => None,
        };
        let mut port = parsed.port();
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut connect_timeout = None;
        let mut application_name = None;
        for (key, value) in parsed.query_pairs() {
            let value = value.into_owned();
            match key.as_ref() {
                "sslmode" => {
                    sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                        url_error(format!(
                            "sslmode `{value}` is not one of disable, prefer, require, verify-ca, verify-full"
                        ))
                    })?)
                }
                "sslrootcert" => sslrootcert = Some(value),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        url_error(format!("connect_timeout `{value}` is not a number of seconds"))
                    })?;
                    connect_timeout = Some(Duration::from_secs(secs.max(1)));
                }
                "application_name" => application_name = Some(value),
                "host" if value.starts_with('/') => host = Some(Host::Socket(value.into())),
                "host" => host = Some(Host::Tcp(value)),
                "port" => {
                    port = Some(value.parse().map_err(|_| {
                        url_error(format!("port `{value}` is not a port number"))
                    })?)
                }
                other => {
                    return Err(url_error(format!(
                        "unknown parameter `{other}`; tokenwarden understands sslmode, sslrootcert, connect_timeout, application_name, host and port"
                    )));
                }
            }
        }
        let host = match host {
            Some(h) => h,
            None => match var_string(vars, "PGHOST") {
                Some(h) if h.starts_with('/') => Host::Socket(h.into()),
                Some(h) => Host::Tcp(h),
                None => Host::Tcp("localhost".to_string()),
            },
        };
        let port = match port {
            Some(p) => p,
            None => match var_string(vars, "PGPORT") {
                Some(p) => p
                    .parse()
                    .map_err(|_| url_error(format!("PGPORT `{p}` is not a port number")))?,
                None => DEFAULT_PORT,
            },
        };
        let user = match decode(parsed.username())? {
            u if !u.is_empty() => u,
            _ => var_string(vars, "PGUSER")
                .or_else(|| var_string(vars, "USER"))
                .ok_or_else(|| url_error("it names no user, and neither PGUSER nor USER is set"))?,
        };
        let dbname = match decode(parsed.path().trim_start_matches('/'))? {
            d if !d.is_empty() => d,
            _ => var_string(vars, "PGDATABASE").unwrap_or_else(|| user.clone()),
        };
        let sslmode = match sslmode {
            Some(m) => m,
            None => match var_string(vars, "PGSSLMODE") {
                Some(m) => SslMode::parse(&m)
                    .ok_or_else(|| url_error(format!("PGSSLMODE `{m}` is not a known sslmode")))?,
                None => SslMode::Prefer,
            },
        };
        let sslrootcert = sslrootcert
            .or_else(|| var_string(vars, "PGSSLROOTCERT"))
            .filter(|p| p != "system")
            .map(PathBuf::from);
        let mut url = StoreUrl {
            host,
            port,
            dbname,
            user,
            sslmode,
            sslrootcert,
            connect_timeout: connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            application_name: application_name.unwrap_or_else(|| "tokenwarden".to_string()),
            password: None,
            password_source: PasswordSource::None,
        };
        if let Some(p) = parsed.password() {
            url.password = Some(SecretString::new(decode(p)?));
            url.password_source = PasswordSource::Url;
        } else if let Some(p) = var_string(vars, "PGPASSWORD") {
            url.password = Some(SecretString::new(p));
            url.password_source = PasswordSource::Env;
        } else if let Some(file) = passfile_path(vars)
            && let Some(p) = url.password_from_file(&file)
        {
            url.password = Some(p);
            url.password_source = PasswordSource::File(file);
        }
        Ok(url)
    }

    /// The URL as messages show it: `postgres://user@host:port/db`, never with a password.
    pub fn redacted(&self) -> String {
        match &self.host {
            Host::Tcp(h) if h.contains(':') => format!(
                "postgres://{}@[{h}]:{}/{}",
                self.user, self.port, self.dbname
            ),
            Host::Tcp(h) => format!("postgres://{}@{h}:{}/{}", self.user, self.port, self.dbname),
            Host::Socket(dir) => format!(
                "postgres://{}@/{}?host={}&port={}",
                self.user,
                self.dbname,
                dir.display(),
                self.port
            ),
        }
    }

    /// "host 127.0.0.1 port 5432" (or the socket), for messages.
    pub fn host_port(&self) -> String {
        match &self.host {
            Host::Tcp(h) => format!("host {h} port {}", self.port),
            Host::Socket(dir) => format!("socket directory {} port {}", dir.display(), self.port),
        }
    }

    /// Where the password comes from.
    pub fn password_source(&self) -> &PasswordSource {
        &self.password_source
    }

    /// The host name a certificate must name (`verify-full`), for a TCP host.
    pub fn tls_host(&self) -> Option<&str> {
        match &self.host {
            Host::Tcp(h) => Some(h),
            Host::Socket(_) => None,
        }
    }

    /// The client library's configuration for this URL.
    pub(crate) fn pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        match &self.host {
            Host::Tcp(h) => c.host(h),
            Host::Socket(dir) => c.host_path(dir),
        };
        c.port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
        if let Some(p) = &self.password {
            c.password(p.expose());
        }
        c
    }

    /// The password for this URL in a `.pgpass` file (`host:port:database:user:password`,
    /// `*` matching anything, `\` escaping `:` and `\`). Like libpq, a file that others can read
    /// is ignored (with a warning).
    fn password_from_file(&self, file: &Path) -> Option<SecretString> {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(file).ok()?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "the password file {} is readable by others and is ignored (chmod 600 it)",
                file.display()
            );
            return None;
        }
        let text = std::fs::read_to_string(file).ok()?;
        let host = match &self.host {
            Host::Tcp(h) => h.clone(),
            Host::Socket(_) => "localhost".to_string(),
        };
        let port = self.port.to_string();
        let wanted = [host.as_str(), port.as_str(), &self.dbname, &self.user];
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(split_pgpass)
            .find(|fields| {
                fields.len() == 5
                    && fields
                        .iter()
                        .zip(wanted)
                        .all(|(f, w)| f == "*" || f.as_str() == w)
            })
            .map(|mut fields| SecretString::new(fields.swap_remove(4)))
    }
}

/// `PGPASSFILE`, else `~/.pgpass`.
fn passfile_path(vars: Vars<'_>) -> Option<PathBuf> {
    var_string(vars, "PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| var_string(vars, "HOME").map(|h| Path::new(&h).join(".pgpass")))
}

/// The fields of one `.pgpass` line; `None` for a line with fewer than five.
fn split_pgpass(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut()?.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(s: &str, env: &[(&str, &str)]) -> Result<StoreUrl> {
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StoreUrl::parse_with(s, &move |k| map.get(k).map(OsString::from))
    }

    #[test]
    fn full_url() {
        let u = parse(
            "postgres://tw@db.example:6543/fleet?sslmode=verify-full&connect_timeout=3",
            &[],
        )
        .unwrap();
        assert_eq!(u.host, Host::Tcp("db.example".into()));
        assert_eq!(u.port, 6543);
        assert_eq!(u.dbname, "fleet");
        assert_eq!(u.user, "tw");
        assert_eq!(u.sslmode, SslMode::VerifyFull);
        assert_eq!(u.connect_timeout, Duration::from_secs(3));
        assert_eq!(u.redacted(), "postgres://tw@db.example:6543/fleet");
        assert_eq!(u.password_source(), &PasswordSource::None);
    }

    #[test]
    fn defaults_from_the_environment() {
        let u = parse(
            "postgresql:///",
            &[
                ("PGHOST", "/run/pg"),
                ("PGUSER", "ops"),
                ("PGSSLMODE", "disable"),
            ],
        )
        .unwrap();
        assert_eq!(u.host, Host::Socket("/run/pg".into()));
        assert_eq!(u.port, DEFAULT_PORT);
        assert_eq!(u.dbname, "ops");
        assert_eq!(u.sslmode, SslMode::Disable);
        assert_eq!(
            parse("postgres://a@h/d", &[]).unwrap().sslmode,
            SslMode::Prefer
        );
    }

    #[test]
    fn password_is_never_shown() {
        let u = parse("postgres://tw:s%3Acret@127.0.0.1:1/db", &[]).unwrap();
        assert_eq!(u.password_source(), &PasswordSource::Url);
        assert!(!u.redacted().contains("cret"));
        assert!(!format!("{u:?}").contains("cret"));
        let u = parse("postgres://tw@127.0.0.1:1/db", &[("PGPASSWORD", "hunter2")]).unwrap();
        assert_eq!(u.password_source(), &PasswordSource::Env);
        assert!(!format!("{u:?}").contains("hunter2"));
    }

    #[test]
    fn passfile_lines_match_with_wildcards_and_escapes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:db:tw:nope\n127.0.0.1:*:fleet:tw:p\\:w\\\\d\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = file.to_str().unwrap();
        let u = parse(
            "postgres://tw@127.0.0.1:7777/fleet",
            &[("PGPASSFILE", path)],
        )
        .unwrap();
        assert_eq!(u.password_source(), &PasswordSource::File(file.clone()));
        assert_eq!(u.password.as_ref().unwrap().expose(), "p:w\\d");
        // Readable by others: ignored, as libpq does.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let u = parse(
            "postgres://tw@127.0.0.1:7777/fleet",
            &[("PGPASSFILE", path)],
        )
        .unwrap();
        assert_eq!(u.password_source(), &PasswordSource::None);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, want) in [
            ("mysql://x/y", "must start with postgres://"),
            ("postgres://a@h/d?sslmode=maybe", "sslmode `maybe`"),
            ("postgres://a@h/d?pool=3", "unknown parameter `pool`"),
        ] {
            let e = parse(url, &[]).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config);
            assert!(e.message().contains(want), "{url}: {}", e.message());
        }
    }
}
