//! `tokenwarden git-credential get|store|erase`: git's credential helper protocol
//! (`git help credential`): git writes `key=value` lines (protocol, host, path, …) ending with a
//! blank line on standard input; for `get` the helper answers `username=` and `password=` lines.
//!
//! Which profile: the one named by `--profile` / `TOKENWARDEN_PROFILE`, for any host; else the
//! first profile whose `git_hosts` lists the host; else none, and the helper says nothing so
//! that git asks its other helpers. The password is a valid access token; the user name is the
//! profile's `git_username`, else the provider's convention ([`Profile::git_username`]). A
//! token is only given over HTTPS (plain HTTP only to a loopback host).
//!
//! On failure (no login, the provider down) the helper prints the error on stderr and exits
//! non-zero, with nothing on stdout: git never gets an empty password. `store` does nothing
//! (tokenwarden keeps the tokens); `erase`, which git sends when the server refused the
//! password, marks that token rejected so that the next `get` refreshes it.
//!
//! [`Profile::git_username`]: tokenwarden::config::Profile::git_username

use super::Global;
use super::context::{self, MinTtl};
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::Error;
use tokenwarden::warden::Warden;

/// What git asks of the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Give the credentials for the URL described on standard input.
    Get,
    /// git found the credentials good (nothing to do: tokenwarden keeps the tokens).
    Store,
    /// git found the credentials refused: mark that token rejected.
    Erase,
}

/// Arguments of `tokenwarden git-credential`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Set up (one of):
  git config --global credential.https://github.com.helper '!tokenwarden --profile github git-credential'
  git config --global credential.helper '!tokenwarden git-credential'   # hosts from each profile's git_hosts
  ln -s \"$(command -v tokenwarden)\" ~/.local/bin/git-credential-tokenwarden && git config --global credential.helper tokenwarden

Map hosts to a profile: tokenwarden profile set github git_hosts github.com")]
pub struct GitCredentialArgs {
    /// The operation git asks for.
    #[arg(value_enum)]
    action: Action,
}

/// The token must stay valid this long for git (less when the provider's tokens are shorter).
const MIN_TTL: Duration = Duration::from_secs(60);

/// Runs `tokenwarden git-credential`.
pub async fn run(global: &Global, out: &Printer, args: GitCredentialArgs) -> Result<()> {
    let request = Request::read(std::io::stdin().lock())?;
    if args.action == Action::Store {
        return Ok(());
    }
    let w = context::warden(global)?;
    let Some(profile) = profile_for(&w, global, &request)? else {
        return Ok(());
    };
    let loaded = w.profile(&profile)?.profile;
    match args.action {
        Action::Get => {
            check_transport(&request, &profile)?;
            let token =
                context::valid_token(global, &w, out, &profile, MinTtl::UpTo(MIN_TTL)).await?;
            let mut answer = format!(
                "username={}\npassword={}\n",
                loaded.git_username(),
                token.access_token().expose()
            );
            if let Some(at) = token.expires_at() {
                answer.push_str(&format!(
                    "password_expiry_utc={}\n",
                    context::epoch_seconds(at)
                ));
            }
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(answer.as_bytes())?;
            stdout.flush()?;
        }
        Action::Erase => {
            let Some(password) = request.get("password") else {
                return Ok(());
            };
            let session = w.session(&profile)?;
            let token = session.get_token(Duration::ZERO).await?;
            if token.access_token().expose() == password {
                session.invalidate(&token)?;
            }
        }
        Action::Store => {}
    }
    Ok(())
}

/// The attributes git wrote, in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    attributes: Vec<(String, String)>,
}

impl Request {
    /// Reads `key=value` lines up to a blank line or the end of input.
    fn read(input: impl std::io::BufRead) -> tokenwarden::Result<Request> {
        let mut attributes = Vec::new();
        for line in input.lines() {
            let line = line.map_err(|e| Error::usage(format!("cannot read what git sent: {e}")))?;
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once('=') {
                attributes.push((k.to_string(), v.to_string()));
            }
        }
        Ok(Request { attributes })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The profile that serves this request: the one named, else the one whose `git_hosts` lists
/// the host; `None` when no profile does (git then asks its other helpers).
fn profile_for(w: &Warden, global: &Global, request: &Request) -> Result<Option<String>> {
    if global.profile_explicit {
        return Ok(Some(global.profile.clone()));
    }
    let Some(host) = request.get("host") else {
        return Ok(None);
    };
    for name in w.config().profile_names() {
        if let Ok(loaded) = w.profile(&name)
            && loaded.profile.serves_git_host(host)
        {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// A Usage error unless the token would travel over HTTPS (or plain HTTP to a loopback host).
fn check_transport(request: &Request, profile: &str) -> tokenwarden::Result<()> {
    let protocol = request.get("protocol").unwrap_or("https");
    let host = request.get("host").unwrap_or("");
    let name = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .trim_matches(['[', ']']);
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if protocol == "https" || (protocol == "http" && loopback) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "git asked for a credential of profile `{profile}` for {protocol}://{host}: tokenwarden gives tokens only over https"
    ))
    .with_hint("use the https:// URL of the repository"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_git_writes_up_to_the_blank_line() {
        let input = "protocol=https\nhost=github.com\npath=o/r.git\n\nignored=1\n";
        let r = Request::read(input.as_bytes()).expect("reads");
        assert_eq!(r.get("host"), Some("github.com"));
        assert_eq!(r.get("path"), Some("o/r.git"));
        assert_eq!(r.get("ignored"), None);
    }

    #[test]
    fn tokens_travel_only_over_https_or_to_loopback() {
        let req = |p: &str, h: &str| Request {
            attributes: vec![("protocol".into(), p.into()), ("host".into(), h.into())],
        };
        assert!(check_transport(&req("https", "github.com"), "p").is_ok());
        assert!(check_transport(&req("http", "127.0.0.1:8080"), "p").is_ok());
        assert!(check_transport(&req("http", "[::1]:80"), "p").is_ok());
        assert!(check_transport(&req("http", "github.com"), "p").is_err());
    }
}
