//! `tokenwarden login`: authorization code + PKCE over a loopback redirect (default) or with the
//! code pasted back (`--paste`), the device grant (`--device`), or client credentials
//! (`--client-credentials`); the tokens go to the store, replacing what the profile had.
//!
//! What a person (or a script) sees: the authorization URL alone on its own line on stderr;
//! for the device grant the verification URI and user code set apart (never the device code);
//! a spinner only when stderr is a terminal. Ctrl-C cancels at any point before the tokens are
//! stored: the listener closes, nothing is stored, and the exit code is 130.

use super::Global;
use super::context::{self, parse_duration};
use crate::json;
use crate::output::Printer;
use crate::output::escape::one_line;
use anyhow::Result;
use std::future::Future;
use std::time::Duration;
use tokenwarden::Error;
use tokenwarden::account::{GrantWrite, StoredLogin};
use tokenwarden::config::GrantType;
use tokenwarden::exit::ExitCode;
use tokenwarden::flow::{authcode, device, paste};
use tokenwarden::http::TokenClient;
use tokenwarden::retry::{Clock, TokioSleeper};
use tokenwarden::token::TokenSet;

/// Arguments of `tokenwarden login`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
By default a browser opens the provider's login page; the URL is also printed alone on its own \
line on stderr, so it can be copied to another machine or read by a script. The login waits for \
the provider to redirect back to 127.0.0.1, exchanges the code at once, and stores the tokens \
(encrypted) for the profile, replacing what it had.")]
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
    /// Paste the code back instead of listening for the redirect (SSH, containers): open the
    /// printed URL anywhere, then paste the code (or `code#state`, or the address the browser
    /// ended at) on standard input. The redirect is the profile's `paste_redirect_uri` (a
    /// provider-hosted page that shows the code), else its `redirect_uri`.
    #[arg(long, conflicts_with_all = ["device", "client_credentials"])]
    paste: bool,
    /// Give up after waiting this long for the browser callback, the pasted code or the
    /// device approval (e.g. 90s, 10m).
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    timeout: Duration,
}

/// Runs `tokenwarden login`; returns [`ExitCode::Success`], or [`ExitCode::Cancelled`] after
/// Ctrl-C.
pub async fn run(global: &Global, out: &Printer, args: LoginArgs) -> Result<ExitCode> {
    // Installed first, so that a Ctrl-C at any later point cancels instead of killing.
    let cancelled = interrupted()?;
    let w = context::warden(global)?;
    let loaded = w.profile(&global.profile)?;
    for warning in &loaded.warnings {
        out.warning(&warning.to_string());
    }
    let profile = loaded.profile;
    let client = w.client(&profile)?;
    let grant = if args.client_credentials {
        GrantType::ClientCredentials
    } else if args.paste {
        GrantType::AuthorizationCode
    } else if args.device {
        GrantType::DeviceCode
    } else {
        profile.grant
    };
    let work = async {
        match grant {
            GrantType::ClientCredentials => client.client_credentials_standalone().await,
            GrantType::DeviceCode => {
                device_login(out, &client, w.clock().as_ref(), args.timeout).await
            }
            GrantType::AuthorizationCode if args.paste => {
                paste_login(out, &client, &profile.name, args.timeout).await
            }
            GrantType::AuthorizationCode => {
                browser_login(out, &client, &profile.name, args.no_browser, args.timeout).await
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
            return Ok(out.cancelled("login cancelled (Ctrl-C): nothing was stored"));
        }
    };
    let stored = w.store_login(&profile, grant, &tokens)?;
    report(global, out, grant, &tokens, w.clock().now())?;
    remembered(out, &global.profile, &stored);
    Ok(ExitCode::Success)
}

/// Says what was stored (stdout with `--json`, else stderr).
fn report(
    global: &Global,
    out: &Printer,
    grant: GrantType,
    tokens: &TokenSet,
    now: std::time::SystemTime,
) -> std::io::Result<()> {
    if out.json() {
        return out.print_json(&json::Login {
            profile: global.profile.clone(),
            grant: grant.as_str(),
            expires_at: tokens.expires_at.map(context::rfc3339),
            scope: tokens.scope_string(),
            refresh_token: tokens.refresh_token.is_some(),
            subject: tokens.subject.clone(),
            issuer: tokens.issuer.clone(),
        });
    }
    // Rounded up to the second: "in 1 h", not "in 59 min 59 s", for expires_in = 3600.
    let expiry = tokens
        .expires_at
        .map(|t| {
            let left = t.duration_since(now).unwrap_or_default().as_secs_f64();
            let shown = tokenwarden::clock::later(now, Duration::from_secs(left.ceil() as u64));
            format!("access token expires {}", context::relative(shown, now))
        })
        .unwrap_or_else(|| "access token does not expire".into());
    let refresh = match (&tokens.refresh_token, tokens.refresh_token_expires_at) {
        (Some(_), Some(at)) => {
            format!("refresh token kept, expires {}", context::relative(at, now))
        }
        (Some(_), None) => "refresh token kept".to_string(),
        (None, _) => "no refresh token".to_string(),
    };
    let subject = tokens
        .subject
        .as_deref()
        .map(|s| format!("; subject {}", one_line(s)))
        .unwrap_or_default();
    out.err(format!(
        "Logged in: profile `{}` ({}; {expiry}; {refresh}{subject}).",
        global.profile,
        grant.as_str(),
    ));
    Ok(())
}

/// A profile logged in with `--client-credentials` renews its token by itself only when it says
/// `grant = "client_credentials"` (refreshing needs to know which grant to use): says whether
/// the library could write that into config.toml.
fn remembered(out: &Printer, profile: &str, stored: &StoredLogin) {
    match &stored.grant {
        None => {}
        Some(GrantWrite::Written { path }) => out.err(format!(
            "note: profile `{profile}` now says `grant = \"client_credentials\"` (in {}), so that `tokenwarden token` fetches a new token by itself when this one expires",
            path.display()
        )),
        Some(GrantWrite::Failed { error, .. }) => out.err(format!(
            "note: add `grant = \"client_credentials\"` to profile `{profile}` so that `tokenwarden token` fetches a new token by itself when this one expires (tokenwarden could not: {})",
            error.message()
        )),
    }
}

/// Authorization code + PKCE: prints the URL (alone on its line), opens a browser unless told
/// not to, waits for the callback and exchanges the code.
async fn browser_login(
    out: &Printer,
    client: &TokenClient,
    profile: &str,
    no_browser: bool,
    timeout: Duration,
) -> tokenwarden::Result<TokenSet> {
    let prepared = authcode::prepare(client).await?;
    out.err(format!(
        "Open this URL in a browser to log in to profile `{profile}`:\n\n{}\n",
        one_line(&prepared.url)
    ));
    if !no_browser && super::browser::open(&prepared.url) == super::browser::Opened::Nothing {
        out.err("(could not open a browser; open the URL above yourself)");
    }
    let _spinner = if context::stderr_is_tty() {
        Some(spinner(*out, "waiting for the browser to come back"))
    } else {
        out.err(format!(
            "Waiting up to {} for the login to come back to {} (Ctrl-C cancels).",
            tokenwarden::human::duration(timeout),
            one_line(&prepared.redirect_uri)
        ));
        None
    };
    prepared.finish(client, timeout).await
}

/// The paste-back login: prints the URL (alone on its line), reads what the person pastes on
/// standard input (a terminal or a pipe; at most `timeout`), and exchanges the code. Nothing
/// listens, so it works over SSH.
async fn paste_login(
    out: &Printer,
    client: &TokenClient,
    profile: &str,
    timeout: Duration,
) -> tokenwarden::Result<TokenSet> {
    let login = paste::prepare(client).await?;
    out.err(format!(
        "Open this URL in a browser, on any device, to log in to profile `{profile}`:\n\n{}\n",
        one_line(&login.url)
    ));
    out.err(format!(
        "After you approve, the page shows a code (or the browser ends at an address starting with {}).\nPaste it here and press Enter (within {}; Ctrl-C cancels):",
        one_line(&login.redirect_uri),
        tokenwarden::human::duration(timeout)
    ));
    let pasted = match tokio::time::timeout(timeout, read_pasted_line()).await {
        Ok(Some(line)) => line,
        Ok(None) => {
            return Err(Error::usage(
                "standard input ended before a code was pasted: nothing was stored",
            )
            .with_hint("paste the code the page shows, or pipe it in: `echo CODE#STATE | tokenwarden login --paste`"));
        }
        Err(_) => {
            return Err(Error::login_required(format!(
                "no code was pasted within {}: nothing was stored",
                tokenwarden::human::duration(timeout)
            ))
            .with_cause(tokenwarden::error::Cause::NotLoggedIn)
            .with_hint("run `tokenwarden login --paste` again, or raise --timeout"));
        }
    };
    login.finish(client, &pasted).await
}

/// The first line with text on standard input; `None` at its end. Read on a thread of its
/// own (a blocking read cannot be cancelled, and must not keep the runtime from shutting down
/// after a timeout or Ctrl-C).
async fn read_pasted_line() -> Option<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        let found = loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break None,
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => break Some(std::mem::take(&mut line)),
            }
        };
        let _ = tx.send(found);
    });
    rx.await.ok().flatten()
}

/// The device grant: shows where to go and the code to type (never the device code), then
/// polls until approved, denied, expired or `timeout`.
async fn device_login(
    out: &Printer,
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
    let mut text = format!(
        "To log in, open this page on any device:\n\n    {}\n\nand enter the code:\n\n    {}\n\n",
        one_line(&auth.verification_uri),
        one_line(&auth.user_code)
    );
    if let Some(c) = &auth.verification_uri_complete {
        text.push_str(&format!(
            "(or open {}, which fills in the code)\n",
            one_line(c)
        ));
    }
    text.push_str(&format!(
        "The code expires in {}.",
        context::short(expires_in)
    ));
    out.err(text);
    let _spinner = context::stderr_is_tty().then(|| spinner(*out, "waiting for approval"));
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

/// A spinner on stderr until dropped; dropping it blanks its line.
pub struct Spinner {
    task: tokio::task::JoinHandle<()>,
    out: Printer,
    width: usize,
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.task.abort();
        self.out.clear_progress(self.width);
    }
}

/// Starts a spinner with `label`.
pub fn spinner(out: Printer, label: &'static str) -> Spinner {
    let frame = move |c: char| format!("{c} {label}… (Ctrl-C to cancel)");
    let width = frame('|').chars().count();
    let task = tokio::spawn(async move {
        let frames = ['|', '/', '-', '\\'];
        let mut i = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(120));
        loop {
            tick.tick().await;
            out.progress(&frame(frames[i % frames.len()]));
            i += 1;
        }
    });
    Spinner { task, out, width }
}
