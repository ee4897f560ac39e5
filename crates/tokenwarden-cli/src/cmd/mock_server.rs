//! `tokenwarden mock-server`: runs `mockauth` on loopback until SIGINT/SIGTERM.
//!
//! Prints one JSON line on stdout once listening —
//! `{"issuer":"http://127.0.0.1:PORT","admin":"http://127.0.0.1:PORT/admin"}` — so scripts can
//! start it in the background and read where it is. Flags override the `--config` file.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

/// Arguments of `tokenwarden mock-server`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Once listening, prints one JSON line on stdout:\n  \
{\"issuer\":\"http://127.0.0.1:PORT\",\"admin\":\"http://127.0.0.1:PORT/admin\"}\n\
and serves until SIGINT or SIGTERM.\n\n\
Built-in clients:\n  \
cli  public, PKCE S256, redirect http://127.0.0.1/callback (any port)\n  \
svc  confidential, secret svc-secret, client_credentials (basic or post)\n\n\
Faults (admin API, loopback only):\n  \
curl -X POST $ADMIN/faults -d '{\"token\":{\"status\":503,\"count\":2,\"retry_after\":1}}'\n  \
curl -X DELETE $ADMIN/faults;  curl $ADMIN/stats\n\n\
See crates/mockauth/README.md for the admin API and the config file schema.")]
pub struct MockServerArgs {
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:0, or `addr` from
    /// the config file]
    #[arg(long, value_name = "ADDR")]
    addr: Option<SocketAddr>,

    /// TOML config file: server settings, extra clients (`[[clients]]`) and faults
    /// (`[faults.token]` …). Unknown keys are errors. Flags given here override it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Approve authorization and device requests at once, without the consent page
    #[arg(long)]
    auto_approve: bool,

    /// Access token lifetime, e.g. 60s, 15m [default: 1h]
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    access_ttl: Option<Duration>,

    /// Refresh token lifetime [default: 30d]
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    refresh_ttl: Option<Duration>,

    /// Authorization code lifetime [default: 60s]
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    code_ttl: Option<Duration>,

    /// Issue a new refresh token on every refresh and retire the old one [default: true]
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    rotate_refresh_tokens: Option<bool>,

    /// How long a rotated-out refresh token still returns its successor instead of counting as
    /// reuse, which revokes the whole session [default: 0s]
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    reuse_grace: Option<Duration>,

    /// Device-flow polling interval announced to clients [default: 5s]
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    device_interval: Option<Duration>,

    /// A path the issuer ends with, e.g. /realms/test: every endpoint is served under it
    #[arg(long, value_name = "PATH")]
    issuer_path: Option<String>,

    /// When a grant is refreshed, its previous access tokens die at once
    #[arg(long)]
    revoke_previous_on_refresh: bool,

    /// What the API answers a dead (unknown, expired, revoked) token: 401 with a
    /// WWW-Authenticate challenge, or 403 without one [default: 401]
    #[arg(long, value_name = "STATUS")]
    dead_token_status: Option<mockauth::DeadTokenStatus>,

    /// A header every API request must carry, e.g. 'anthropic-beta: oauth-2025-04-20'
    /// (repeatable); without it the API answers 400 naming it
    #[arg(long, value_name = "'NAME: VALUE'")]
    require_resource_header: Vec<mockauth::RequiredHeader>,

    /// Strict RFC 8707: a known resource indicator (repeatable); authorization, code exchange
    /// and refresh must then name a known `resource`, else invalid_target
    #[arg(long, value_name = "URI")]
    resource_indicator: Vec<String>,

    /// A User-Agent pattern (`*` wildcard, case-insensitive; repeatable) that the token
    /// endpoint refuses with 429
    #[arg(long, value_name = "PATTERN")]
    block_user_agent: Vec<String>,

    /// Where RFC 8414 metadata is published when the issuer has a path: `inserted`
    /// (RFC 8414 §3.1) or `appended` ({issuer}/.well-known/oauth-authorization-server only)
    /// [default: inserted]
    #[arg(long, value_name = "WHERE")]
    metadata_location: Option<mockauth::MetadataLocation>,

    /// A key to leave out of the discovery documents, e.g. revocation_endpoint (repeatable)
    #[arg(long, value_name = "KEY")]
    discovery_omit: Vec<String>,

    /// Let clients keep the discovery documents and the JWK Set (the ID-token keys) this long
    /// (Cache-Control: max-age) [default: no-cache]
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    discovery_max_age: Option<Duration>,

    /// Serve Microsoft-like tenant paths (/common/v2.0/…, /{GUID}/oauth2/v2.0/token …) with
    /// this tenant id in the ID tokens
    #[arg(long, value_name = "GUID")]
    tenant_id: Option<String>,

    /// With --tenant-id: the `tid` ID tokens claim instead (their issuer keeps the tenant id),
    /// as a forged or mixed-up token would
    #[arg(long, value_name = "GUID")]
    id_token_tid: Option<String>,

    /// Do not serve the admin API (`/admin` answers 404)
    #[arg(long)]
    no_admin: bool,
}

impl MockServerArgs {
    /// Parse, then validate: the config file first, the flags on top.
    fn config(&self) -> anyhow::Result<mockauth::Config> {
        let mut cfg = match &self.config {
            Some(path) => mockauth::Config::from_file(path)?,
            None => mockauth::Config::default(),
        };
        if self.addr.is_some() {
            cfg.addr = self.addr;
        }
        cfg.auto_approve |= self.auto_approve;
        if self.no_admin {
            cfg.admin = false;
        }
        if let Some(d) = self.access_ttl {
            cfg.access_ttl = d;
        }
        if let Some(d) = self.refresh_ttl {
            cfg.refresh_ttl = d;
        }
        if let Some(d) = self.code_ttl {
            cfg.code_ttl = d;
        }
        if let Some(b) = self.rotate_refresh_tokens {
            cfg.rotate_refresh_tokens = b;
        }
        if let Some(d) = self.reuse_grace {
            cfg.reuse_grace = d;
        }
        if let Some(d) = self.device_interval {
            cfg.device_interval = d;
        }
        if self.issuer_path.is_some() {
            cfg.issuer_path.clone_from(&self.issuer_path);
        }
        cfg.revoke_previous_on_refresh |= self.revoke_previous_on_refresh;
        if let Some(s) = self.dead_token_status {
            cfg.dead_token_status = s;
        }
        if !self.require_resource_header.is_empty() {
            cfg.required_resource_headers
                .clone_from(&self.require_resource_header);
        }
        if !self.resource_indicator.is_empty() {
            cfg.resource_indicators.clone_from(&self.resource_indicator);
        }
        if !self.block_user_agent.is_empty() {
            cfg.blocked_user_agents.clone_from(&self.block_user_agent);
        }
        if let Some(l) = self.metadata_location {
            cfg.metadata_location = l;
        }
        if !self.discovery_omit.is_empty() {
            cfg.discovery_omit.clone_from(&self.discovery_omit);
        }
        if self.discovery_max_age.is_some() {
            cfg.discovery_max_age = self.discovery_max_age;
        }
        if self.tenant_id.is_some() {
            cfg.tenant_id.clone_from(&self.tenant_id);
        }
        if self.id_token_tid.is_some() {
            cfg.id_token_tid.clone_from(&self.id_token_tid);
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Waits for SIGINT or (on Unix) SIGTERM.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}

/// Runs the server until a signal arrives.
pub async fn run(args: MockServerArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let server = mockauth::Server::start(config)
        .await
        .context("cannot start the mock server")?;
    // A struct, not `json!`, so the keys keep this order: issuer, then admin.
    #[derive(serde::Serialize)]
    struct Ready {
        issuer: String,
        admin: Option<String>,
    }
    let line = serde_json::to_string(&Ready {
        issuer: server.issuer(),
        admin: server.admin_url(),
    })?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").context("cannot write to stdout")?;
        out.flush().context("cannot flush stdout")?;
    }
    stop_signal().await?;
    server.shutdown().await.context("the mock server failed")?;
    Ok(())
}
