//! `tokenwarden proxy`: a local reverse proxy that puts the profile's bearer token on every
//! request (the `tokenwarden-agent` crate's proxy). Prints one JSON line
//! `{"listen":"http://127.0.0.1:PORT","upstream":"…","profile":"P"}` once it listens, then
//! serves until SIGINT or SIGTERM.

use super::Global;
use super::context;
use crate::output::Printer;
use anyhow::Result;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokenwarden::Error;
use tokenwarden::http::destination::Destinations;
use tokenwarden_agent::daemon::listen;
use tokenwarden_agent::proxy::headers::RequestHeaders;
use tokenwarden_agent::proxy::{MAX_REPLAY_BODY, Proxy, ProxySettings, SHUTDOWN_GRACE};

/// Arguments of `tokenwarden proxy`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Once listening, prints one JSON line on stdout:\n  \
                  {\"listen\":\"http://127.0.0.1:PORT\",\"upstream\":\"…\",\"profile\":\"P\"}")]
pub struct ProxyArgs {
    /// The address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where requests go (default: the origin of the profile's `resource`).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Listen on an address that is not loopback (needs --client-token-file).
    #[arg(long, requires = "client_token_file")]
    allow_remote: bool,
    /// The file (mode 0600) holding the bearer secret clients must send.
    #[arg(long, value_name = "FILE")]
    client_token_file: Option<PathBuf>,
}

/// The start-up line.
#[derive(Debug, serde::Serialize)]
struct Listening<'a> {
    listen: String,
    upstream: &'a str,
    profile: &'a str,
}

/// Runs `tokenwarden proxy`.
pub async fn run(global: &Global, out: &Printer, args: ProxyArgs) -> Result<()> {
    let w = context::warden(global)?;
    let profile = w.profile(&global.profile)?.profile;
    let upstream = upstream(args.upstream.as_deref(), &profile)?;
    listen::check_address(&args.listen, args.allow_remote, "the proxy")?;
    let client_token = args
        .client_token_file
        .as_deref()
        .map(listen::read_secret_file)
        .transpose()?;
    let settings = ProxySettings {
        upstream: upstream.clone(),
        headers: RequestHeaders::of(&profile)?,
        client_token,
        max_replay_body: MAX_REPLAY_BODY,
        connect_timeout: profile.connect_timeout,
        shutdown_grace: SHUTDOWN_GRACE,
    };
    let source = Arc::new(context::agent_source(global, &global.profile)?);
    let proxy = Arc::new(Proxy::new(settings, source)?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Error::usage(format!("cannot listen on {}: {e}", args.listen))
                .with_hint("choose another address or port")
        })?;
    let addr = listener.local_addr()?;
    let shown = upstream.as_str().trim_end_matches('/').to_string();
    out.print_json(&Listening {
        listen: format!("http://{addr}"),
        upstream: &shown,
        profile: &global.profile,
    })?;
    tracing::info!(listen = %addr, upstream = %shown, "the proxy is listening");
    proxy.serve(listener, super::agent::shutdown_signal()).await;
    Ok(())
}

/// The upstream: `--upstream`, else the origin of the profile's `resource`. Plain http goes
/// only to loopback unless the profile allows insecure http.
fn upstream(given: Option<&str>, profile: &tokenwarden::Profile) -> tokenwarden::Result<url::Url> {
    let url = match given {
        Some(u) => url::Url::parse(u)
            .map_err(|e| Error::usage(format!("--upstream `{u}` is not a URL: {e}")))?,
        None => {
            let resource = profile.resource.as_deref().ok_or_else(|| {
                Error::usage(format!(
                    "profile `{}` has no `resource` to take the upstream from",
                    profile.name
                ))
                .with_hint(
                    "pass --upstream https://api.example.com, or set `resource` in the profile",
                )
            })?;
            let r = url::Url::parse(resource)
                .map_err(|e| Error::config(format!("`resource` = \"{resource}\": {e}")))?;
            let mut origin = r.clone();
            origin.set_path("/");
            origin.set_query(None);
            origin.set_fragment(None);
            origin
        }
    };
    // The token goes only where the library's one rule allows (https, or http to loopback;
    // the profile's `resource` origin); an upstream named on the command line is an origin the
    // user allows explicitly, as `request --allow-origin`.
    let mut destinations = Destinations::for_profile(profile);
    if given.is_some() && matches!(url.scheme(), "http" | "https") {
        destinations = destinations.allow_origin(&url.origin().ascii_serialization())?;
    }
    destinations.check(&url).map_err(Error::from)?;
    Ok(url)
}
