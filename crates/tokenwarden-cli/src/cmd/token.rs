//! `tokenwarden token`: prints a valid access token (refreshing once if needed, whoever else
//! asks at the same time): alone on stdout, or in the format another program reads:
//! `json` (what `--json` prints), `header` (an HTTP `Authorization` line), `env` (an export
//! line, as `tokenwarden env`), or `exec-credential` (a Kubernetes `ExecCredential`, in the
//! `apiVersion` kubectl asks for in `KUBERNETES_EXEC_INFO`). `--id-token` prints the stored
//! OpenID Connect ID token instead. A running agent answers when there is one. Within the
//! profile's `refresh_expiry_warning` of the refresh token's expiry every command that takes a
//! token warns on stderr, once a day ([`tokenwarden::horizon`], through `context::valid_token`).

use super::Global;
use super::context::{self, MinTtl, parse_duration};
use super::env::{Shell, export_line};
use crate::json;
use crate::output::Printer;
use anyhow::Result;
use std::time::Duration;
use tokenwarden::Error;
use tokenwarden::error::Cause;

/// What `token` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The token alone on its line (the default).
    Plain,
    /// A JSON object: access_token, token_type, expires_at (RFC 3339), expires_on (epoch
    /// seconds), scope, degraded, warning (the same as --json).
    Json,
    /// `Authorization: Bearer TOKEN`, for `curl -H @-` and the like.
    Header,
    /// `export NAME='TOKEN'` (the profile's export_env, else TOKENWARDEN_ACCESS_TOKEN).
    Env,
    /// A Kubernetes ExecCredential for kubectl's exec credential plugins
    /// (client.authentication.k8s.io/v1beta1 or /v1, as KUBERNETES_EXEC_INFO asks).
    ExecCredential,
}
use tokenwarden::horizon::Horizon;

/// Arguments of `tokenwarden token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  curl -H \"Authorization: Bearer $(tokenwarden token)\" https://api.example.com/v1/me
  tokenwarden token --format header | curl -H @- https://api.example.com/v1/me
  tokenwarden token --format json | jq .expires_on

kubectl (a user in ~/.kube/config):
  users:
  - name: me
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: tokenwarden
        args: [--profile, k8s, token, --format, exec-credential]
        interactiveMode: Never")]
pub struct TokenArgs {
    /// The token must stay valid at least this long (refresh first otherwise). When the
    /// provider's tokens cannot live that long (min-ttl plus the refresh window reaches their
    /// lifetime), the freshest token comes with a warning.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    min_ttl: Duration,
    /// The output format (--json is the same as --format json).
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
    /// Print the stored OpenID Connect ID token (verified at login) instead of the access token.
    #[arg(long, conflicts_with = "format")]
    id_token: bool,
}

/// Runs `tokenwarden token`.
pub async fn run(global: &Global, out: &Printer, args: TokenArgs) -> Result<()> {
    let format = match (args.format, out.json()) {
        (Some(f), _) => f,
        (None, true) => Format::Json,
        (None, false) => Format::Plain,
    };
    // Read the request of kubectl before anything else can fail on it.
    let exec_version = match format {
        Format::ExecCredential => Some(exec_credential_version()?),
        _ => None,
    };
    let w = context::warden(global)?;
    let token = context::valid_token(
        global,
        &w,
        out,
        &global.profile,
        MinTtl::Asked(args.min_ttl),
    )
    .await?;
    let expires_at = token.expires_at().map(context::rfc3339);
    let expires_on = token.expires_at().map(context::epoch_seconds);
    if args.id_token {
        let Some(id) = token.id_token() else {
            return Err(Error::login_required(format!(
                "profile `{}` has no ID token stored: the provider gave none at login",
                global.profile
            ))
            .with_cause(Cause::NotLoggedIn)
            .with_hint("ID tokens come with the `openid` scope: add it (`tokenwarden profile set NAME scopes \"openid ...\"`) and log in again")
            .into());
        };
        if out.json() {
            out.print_json(&json::IdToken {
                id_token: id.expose().to_string(),
            })?;
        } else {
            out.out(id.expose())?;
        }
        return Ok(());
    }
    let access = token.access_token().expose();
    match format {
        Format::Plain => out.out(access)?,
        Format::Header => out.out(format!("Authorization: {}", token.authorization()))?,
        Format::Env => {
            let profile = w.profile(&global.profile)?.profile;
            let name = context::token_variable(&profile);
            out.out(export_line(Shell::Sh, &name, access))?;
        }
        Format::Json => out.print_json(&json::Token {
            access_token: access.to_string(),
            token_type: token.token_type().to_string(),
            expires_at,
            expires_on,
            scope: token.scopes().join(" "),
            degraded: token.degraded().is_some(),
            warning: token.degraded().or(token.warning()).map(str::to_string),
            refresh_token_expires_at: token.refresh_token_expires_at().map(context::rfc3339),
            refresh_token_expires_soon: Horizon::at(
                token.refresh_token_expires_at(),
                w.clock().now(),
                w.profile(&global.profile)?.profile.refresh_expiry_warning,
            )
            .is_some_and(|h| h.within_warning),
        })?,
        Format::ExecCredential => out.print_json(&json::ExecCredential {
            api_version: exec_version.unwrap_or(EXEC_V1BETA1),
            kind: "ExecCredential",
            status: json::ExecCredentialStatus {
                token: access.to_string(),
                expiration_timestamp: expires_at,
            },
        })?,
    }
    Ok(())
}

const EXEC_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
const EXEC_V1: &str = "client.authentication.k8s.io/v1";

/// The `apiVersion` of the ExecCredential kubectl asks for in `KUBERNETES_EXEC_INFO` (v1beta1
/// when the variable is absent, as with kubectl before 1.22 or a run by hand).
fn exec_credential_version() -> tokenwarden::Result<&'static str> {
    let Some(info) = std::env::var_os("KUBERNETES_EXEC_INFO") else {
        return Ok(EXEC_V1BETA1);
    };
    let unusable = |why: String| {
        Error::usage(format!("KUBERNETES_EXEC_INFO {why}")).with_hint(
            "kubectl sets it from the user's `exec.apiVersion`: use client.authentication.k8s.io/v1 or /v1beta1",
        )
    };
    let info: serde_json::Value = serde_json::from_str(&info.to_string_lossy())
        .map_err(|e| unusable(format!("is not JSON ({e})")))?;
    match info.get("apiVersion").and_then(|v| v.as_str()) {
        Some(EXEC_V1) => Ok(EXEC_V1),
        Some(EXEC_V1BETA1) | None => Ok(EXEC_V1BETA1),
        Some(other) => Err(unusable(format!(
            "asks for apiVersion `{}`, which tokenwarden does not speak",
            crate::output::escape::one_line(other)
        ))),
    }
}
