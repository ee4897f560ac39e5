//! `tokenwarden login`: authorization code + PKCE over a loopback redirect (default), the device
//! grant (`--device`), or client credentials (`--client-credentials`); the tokens go to the
//! store, replacing what the profile had.

use super::Global;
use super::context::{self, parse_duration};
use anyhow::Result;
use std::io::Write as _;
use std::time::Duration;
use tokenwarden::config::GrantType;
use tokenwarden::flow::{authcode, device};
use tokenwarden::retry::TokioSleeper;
use tokenwarden::store::Store as _;
use tokenwarden::token::TokenSet;
use tokenwarden::{Error, ErrorKind};

/// Arguments of `tokenwarden login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Do not open a browser; just print the authorization URL (for SSH, or to copy it).
    #[arg(long)]
    no_browser: bool,
    /// Use the device grant (RFC 8628): type a short code on another device.
    #[arg(long, conflicts_with = "client_credentials")]
    device: bool,
    /// Use the client credentials grant (confidential clients: services, no user).
    #[arg(long)]
    client_credentials: bool,
    /// How long to wait for the browser callback or the device approval.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    timeout: Duration,
}

/// Runs `tokenwarden login`.
pub async fn run(global: &Global, args: LoginArgs) -> Result<()> {
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
            GrantType::ClientCredentials => client.client_credentials().await,
            GrantType::DeviceCode => device_login(&client, args.timeout).await,
            GrantType::AuthorizationCode => {
                let prepared = authcode::prepare(&client).await?;
                eprintln!(
                    "Open this URL in a browser to log in to profile `{}`:\n",
                    profile.name
                );
                eprintln!("{}", prepared.url);
                eprintln!();
                if !args.no_browser && !open_browser(&prepared.url) {
                    eprintln!("(could not open a browser; open the URL above yourself)");
                }
                let _spinner =
                    context::stderr_is_tty().then(|| spinner("waiting for the browser callback"));
                prepared.finish(&client, args.timeout).await
            }
        }
    };
    let tokens: TokenSet = tokio::select! {
        r = work => r?,
        _ = tokio::signal::ctrl_c() => {
            return Err(Error::new(ErrorKind::Other, "login cancelled (Ctrl-C); nothing was changed").into());
        }
    };
    let store = w.store()?;
    let version = store.replace(&global.profile, &tokens)?;
    tracing::debug!(%version, "stored new tokens");
    let now = w.clock().now();
    let expiry = tokens
        .expires_at
        .map(|t| format!("access token expires {}", context::relative(t, now)))
        .unwrap_or_else(|| "access token does not expire".into());
    let refresh = if tokens.refresh_token.is_some() {
        "refresh token kept"
    } else {
        "no refresh token"
    };
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "profile": global.profile,
                "grant": grant_name(grant),
                "expires_at": tokens.expires_at.map(context::rfc3339),
                "scope": tokens.scope_string(),
                "refresh_token": tokens.refresh_token.is_some(),
                "subject": tokens.subject,
            })
        );
    } else {
        eprintln!(
            "Logged in: profile `{}` ({}; {expiry}; {refresh}{}).",
            global.profile,
            grant_name(grant),
            tokens
                .subject
                .as_deref()
                .map(|s| format!("; subject {s}"))
                .unwrap_or_default()
        );
    }
    if grant == GrantType::ClientCredentials && profile.grant != GrantType::ClientCredentials {
        eprintln!(
            "note: add `grant = \"client_credentials\"` to profile `{}` so that `tokenwarden token` fetches a new token by itself when this one expires",
            global.profile
        );
    }
    Ok(())
}

fn grant_name(g: GrantType) -> &'static str {
    g.as_str()
}

async fn device_login(
    client: &tokenwarden::http::TokenClient,
    timeout: Duration,
) -> tokenwarden::Result<TokenSet> {
    let auth = device::start(client).await?;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "To log in, open:\n\n    {}\n", auth.verification_uri);
    let _ = writeln!(err, "and enter the code:\n\n    {}\n", auth.user_code);
    if let Some(c) = &auth.verification_uri_complete {
        let _ = writeln!(err, "(or open {c} directly)\n");
    }
    drop(err);
    let _spinner = context::stderr_is_tty().then(|| spinner("waiting for approval"));
    let clock = std::time::SystemTime::now;
    match tokio::time::timeout(timeout, device::poll(client, &auth, &TokioSleeper, &clock)).await {
        Ok(r) => r,
        Err(_) => Err(Error::login_required(format!(
            "the device login was not approved within {}",
            humantime::format_duration(timeout)
        ))
        .with_hint("run `tokenwarden login --device` again, or raise --timeout")),
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
