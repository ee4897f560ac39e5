//! `tokenwarden login`: authorization code + PKCE over a loopback redirect (default), the device
//! grant (`--device`), or client credentials (`--client-credentials`); the tokens go to the
//! store, replacing what the profile had.
//!
//! What a person (or a script) sees: the authorization URL alone on its own line on stderr;
//! for the device grant the verification URI and user code set apart (never the device code);
//! a spinner only when stderr is a terminal. Ctrl-C cancels at any point before the tokens are
//! stored: the listener closes, nothing is stored, and the exit code is 130.

use super::Global;
use super::context::{self, parse_duration};
use anyhow::Result;
use std::future::Future;
use std::io::Write as _;
use std::time::Duration;
use tokenwarden::config::GrantType;
use tokenwarden::flow::{authcode, device};
use tokenwarden::http::TokenClient;
use tokenwarden::retry::{Clock, TokioSleeper};
use tokenwarden::store::Store as _;
use tokenwarden::token::TokenSet;
use tokenwarden::{Error, ErrorKind};

/// The exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const CANCELLED_EXIT: u8 = 130;

/// Arguments of `tokenwarden login`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
By default a browser opens the provider's login page; the URL is also printed alone on its own \
line on stderr, so it can be copied to another machine or read by a script. The login waits for \
the provider to redirect back to 127.0.0.1, exchanges the code at once, and stores the tokens \
(encrypted) for the profile, replacing what it had.

Exit codes: 0 logged in; 1 the provider's answer failed a check (state, iss, ID token); 2 \
configuration problem; 3 login denied or expired; 4 provider unavailable; 6 token store problem; \
130 cancelled (Ctrl-C), nothing stored.")]
pub struct LoginArgs {
    /// Do not open a browser; only print the authorization URL (for SSH, or to open it
    /// elsewhere).
    #[arg(long)]
    no_browser: bool,
    /// Use the device grant (RFC 8628): open a short URL on any device and type the code shown.
    #[arg(long, conflicts_with = "client_credentials")]
    device: bool,
    /// Use the client credentials grant: confidential clients (services), no person involved.
    #[arg(long)]
    client_credentials: bool,
    /// Give up after waiting this long for the browser callback or the device approval
    /// (e.g. 90s, 10m).
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    timeout: Duration,
}

/// Runs `tokenwarden login`; returns the exit code (0, or 130 when cancelled).
pub async fn run(global: &Global, args: LoginArgs) -> Result<u8> {
    // Installed first, so that a Ctrl-C at any later point cancels instead of killing.
    let cancelled = interrupted()?;
    let w = context::warden(global)?;
    let loaded = w.profile(&global.profile)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let profile = loaded.profile;
    let client = w.client(&profile)?;
    let grant = if args.client_credentials {
        GrantType::ClientCredentials
    } else if args.device {
        GrantType::DeviceCode
    } else {
        profile.grant
    };
    let work = async {
        match grant {
            GrantType::ClientCredentials => client.client_credentials_standalone().await,
            GrantType::DeviceCode => device_login(&client, w.clock().as_ref(), args.timeout).await,
            GrantType::AuthorizationCode => {
                browser_login(&client, &profile.name, args.no_browser, args.timeout).await
            }
        }
    };
    let started = std::time::Instant::now();
    let tokens: TokenSet = tokio::select! {
        r = work => {
            let op = tokenwarden::events::Operation::Login;
            w.record_outcome(&global.profile, op, &r, started.elapsed());
            r?
        }
        () = cancelled => {
            let msg = "login cancelled (Ctrl-C): nothing was stored";
            if global.json {
                let mut v = Error::new(ErrorKind::Other, msg).to_json();
                v["error"]["exit_code"] = CANCELLED_EXIT.into();
                eprintln!("{v}");
            } else {
                eprintln!("{msg}");
            }
            return Ok(CANCELLED_EXIT);
        }
    };
    let store = w.store()?;
    let version = store.replace(&global.profile, &tokens)?;
    tracing::debug!(%version, "stored new tokens");
    report(global, grant, &tokens, w.clock().now());
    if grant == GrantType::ClientCredentials && profile.grant != GrantType::ClientCredentials {
        remember_client_credentials(&w, &global.profile);
    }
    Ok(0)
}

/// Says what was stored (stdout with `--json`, else stderr).
fn report(global: &Global, grant: GrantType, tokens: &TokenSet, now: std::time::SystemTime) {
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "profile": global.profile,
                "grant": grant.as_str(),
                "expires_at": tokens.expires_at.map(context::rfc3339),
                "scope": tokens.scope_string(),
                "refresh_token": tokens.refresh_token.is_some(),
                "subject": tokens.subject,
                "issuer": tokens.issuer,
            })
        );
    } else {
        // Rounded up to the second: "in 1 h", not "in 59 min 59 s", for expires_in = 3600.
        let expiry = tokens
            .expires_at
            .map(|t| {
                let left = t.duration_since(now).unwrap_or_default().as_secs_f64();
                let shown = now + Duration::from_secs(left.ceil() as u64);
                format!("access token expires {}", context::relative(shown, now))
            })
            .unwrap_or_else(|| "access token does not expire".into());
        let refresh = if tokens.refresh_token.is_some() {
            "refresh token kept"
        } else {
            "no refresh token"
        };
        let subject = tokens
            .subject
            .as_deref()
            .map(|s| format!("; subject {s}"))
            .unwrap_or_default();
        eprintln!(
            "Logged in: profile `{}` ({}; {expiry}; {refresh}{subject}).",
            global.profile,
            grant.as_str(),
        );
    }
}

/// A profile logged in with `--client-credentials` renews its token by itself only when it says
/// `grant = "client_credentials"` (refreshing needs to know which grant to use): writes that
/// into config.toml, keeping the file's comments, and says so.
fn remember_client_credentials(w: &tokenwarden::warden::Warden, profile: &str) {
    use tokenwarden::config::edit::{EditValue, set_profile_key};
    let path = w.paths().config_file();
    let value = EditValue::Str(GrantType::ClientCredentials.as_str().to_string());
    match set_profile_key(&path, profile, "grant", value) {
        Ok(_) => eprintln!(
            "note: profile `{profile}` now says `grant = \"client_credentials\"` (in {}), so that `tokenwarden token` fetches a new token by itself when this one expires",
            path.display()
        ),
        Err(e) => eprintln!(
            "note: add `grant = \"client_credentials\"` to profile `{profile}` so that `tokenwarden token` fetches a new token by itself when this one expires (tokenwarden could not: {})",
            e.message()
        ),
    }
}

/// Authorization code + PKCE: prints the URL (alone on its line), opens a browser unless told
/// not to, waits for the callback and exchanges the code.
async fn browser_login(
    client: &TokenClient,
    profile: &str,
    no_browser: bool,
    timeout: Duration,
) -> tokenwarden::Result<TokenSet> {
    let prepared = authcode::prepare(client).await?;
    {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "Open this URL in a browser to log in to profile `{profile}`:\n"
        );
        let _ = writeln!(err, "{}", prepared.url);
        let _ = writeln!(err);
        let _ = err.flush();
    }
    if !no_browser && !open_browser(&prepared.url) {
        eprintln!("(could not open a browser; open the URL above yourself)");
    }
    let _spinner = if context::stderr_is_tty() {
        Some(spinner("waiting for the browser to come back"))
    } else {
        eprintln!(
            "Waiting up to {} for the login to come back to {} (Ctrl-C cancels).",
            tokenwarden::human::duration(timeout),
            prepared.redirect_uri
        );
        None
    };
    prepared.finish(client, timeout).await
}

/// The device grant: shows where to go and the code to type (never the device code), then
/// polls until approved, denied, expired or `timeout`.
async fn device_login(
    client: &TokenClient,
    clock: &dyn Clock,
    timeout: Duration,
) -> tokenwarden::Result<TokenSet> {
    let auth = device::start(client).await?;
    // Rounded up: "10 min", not "9 min 59 s", for a code that came with expires_in = 600.
    let expires_in = auth
        .expires_at
        .duration_since(clock.now())
        .unwrap_or_default()
        .as_secs_f64()
        .ceil();
    let expires_in = Duration::from_secs(expires_in as u64);
    {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "To log in, open this page on any device:\n");
        let _ = writeln!(err, "    {}\n", auth.verification_uri);
        let _ = writeln!(err, "and enter the code:\n");
        let _ = writeln!(err, "    {}\n", auth.user_code);
        if let Some(c) = &auth.verification_uri_complete {
            let _ = writeln!(err, "(or open {c}, which fills in the code)");
        }
        let _ = writeln!(err, "The code expires in {}.", context::short(expires_in));
        let _ = err.flush();
    }
    let _spinner = context::stderr_is_tty().then(|| spinner("waiting for approval"));
    let now = || clock.now();
    match tokio::time::timeout(timeout, device::poll(client, &auth, &TokioSleeper, &now)).await {
        Ok(r) => r,
        Err(_) => Err(Error::login_required(format!(
            "the device login was not approved within {}",
            tokenwarden::human::duration(timeout)
        ))
        .with_hint("run `tokenwarden login --device` again, or raise --timeout")),
    }
}

/// Completes on the first Ctrl-C (SIGINT). The handler is installed when this is called, not
/// when the future is first polled, so no signal can slip through in between.
fn interrupted() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        Ok(async move {
            let _ = sigint.recv().await;
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Opens `url` in the desktop's browser; false when there is none.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
        && !cfg!(target_os = "macos")
    {
        return false;
    }
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// A spinner on stderr until dropped.
pub struct Spinner(tokio::task::JoinHandle<()>);

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.abort();
        eprint!("\r\x1b[2K");
    }
}

/// Starts a spinner with `label`.
pub fn spinner(label: &'static str) -> Spinner {
    Spinner(tokio::spawn(async move {
        let frames = ['|', '/', '-', '\\'];
        let mut i = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(120));
        loop {
            tick.tick().await;
            eprint!("\r{} {label}… (Ctrl-C to cancel)", frames[i % frames.len()]);
            i += 1;
        }
    }))
}
