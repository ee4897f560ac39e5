//! `tokenwarden profile`: add, set, unset, list, show and remove profiles in config.toml, and
//! `keys`, which lists every key a profile takes (from the library's schema, the one place
//! they are documented).
//!
//! Writes go through `tokenwarden::config::edit` (comments and order kept, validated before
//! writing, 0600 file in a 0700 directory). Secrets are never shown: `show` names the variable
//! that holds the client secret and says whether it is set.

use super::Global;
use crate::json;
use crate::output::Printer;
use crate::output::escape::one_line;
use anyhow::Result;
use tokenwarden::config::edit::{self, EditValue, NewProfile};
use tokenwarden::config::{Config, Diagnostic, Profile};
use tokenwarden::paths::Paths;

/// Arguments of `tokenwarden profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    command: ProfileCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProfileCommand {
    /// Add a profile to config.toml (it is validated first; nothing is written if it is invalid).
    Add(crate::cli::Deferred<Box<AddArgs>>),
    /// Set one key of a profile, keeping the file's comments and order (validated first).
    #[command(after_help = "\
Examples:
  tokenwarden profile set default resource https://api.example.com/v1/
  tokenwarden profile set work scopes openid email offline_access
  tokenwarden profile set github git_hosts github.com
Every key: tokenwarden profile keys")]
    Set {
        /// The profile.
        name: String,
        /// The key (see `tokenwarden profile keys`).
        key: String,
        /// The value; a list key takes several (or one with spaces), a table key `k=v` words.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        value: Vec<String>,
    },
    /// Remove one key from a profile (its default applies again), keeping everything else.
    Unset {
        /// The profile.
        name: String,
        /// The key.
        key: String,
    },
    /// List every key a profile (or [defaults]) takes, with its type and meaning.
    Keys,
    /// List the profiles in config.toml.
    List,
    /// Show a profile as tokenwarden resolves it (presets applied; secrets never shown).
    Show {
        /// The profile to show (default: --profile / TOKENWARDEN_PROFILE).
        name: Option<String>,
    },
    /// Remove a profile from config.toml (comments and other profiles are kept).
    Remove {
        /// The profile to remove.
        name: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
These options set the most used keys; every key (timeout, max_attempts, lock_wait, breaker_*, \
...) is listed by `tokenwarden profile keys` and can be changed later with \
`tokenwarden profile set NAME KEY VALUE`.")]
struct AddArgs {
    /// The profile name (letters, digits, `_`, `-`, `.`).
    name: String,
    /// The OAuth client id the provider gave your app.
    #[arg(long)]
    client_id: String,
    /// The issuer URL; the endpoints are found by discovery (RFC 8414 / OpenID Connect).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// A provider preset with known endpoints and quirks.
    #[arg(long, value_parser = ["generic", "anthropic", "google", "github", "microsoft"])]
    provider: Option<String>,
    /// The token endpoint (overrides discovery and the preset).
    #[arg(long, value_name = "URL")]
    token_endpoint: Option<String>,
    /// The authorization endpoint (overrides discovery and the preset).
    #[arg(long, value_name = "URL")]
    authorization_endpoint: Option<String>,
    /// The device authorization endpoint, RFC 8628 (overrides discovery and the preset).
    #[arg(long, value_name = "URL")]
    device_authorization_endpoint: Option<String>,
    /// The revocation endpoint, RFC 7009 (overrides discovery and the preset).
    #[arg(long, value_name = "URL")]
    revocation_endpoint: Option<String>,
    /// The environment variable that holds the client secret (the secret itself never goes in
    /// config.toml).
    #[arg(long, value_name = "VAR")]
    client_secret_env: Option<String>,
    /// A scope to request (repeat for several).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The redirect URI for login (default http://127.0.0.1/callback on an ephemeral port).
    #[arg(long, value_name = "URI")]
    redirect_uri: Option<String>,
    /// A redirect URI registered at the provider, for the lint (repeat for several).
    #[arg(long = "registered-redirect-uri", value_name = "URI")]
    registered_redirect_uris: Vec<String>,
    /// How token requests are encoded.
    #[arg(long, value_parser = ["form", "json"])]
    token_request_format: Option<String>,
    /// How the client authenticates to the token endpoint.
    #[arg(long, value_name = "METHOD", value_parser = ["none", "client_secret_basic", "client_secret_post"])]
    client_auth: Option<String>,
    /// The API the profile talks to: the default URL of `request` (not sent to the provider).
    #[arg(long, value_name = "URL")]
    resource: Option<String>,
    /// An RFC 8707 resource indicator, sent with the authorization and token requests (repeat
    /// for several).
    #[arg(long = "resource-indicator", value_name = "URI")]
    resource_indicators: Vec<String>,
    /// The provider revokes the previous access token when it refreshes.
    #[arg(long)]
    refresh_revokes_previous_access_token: bool,
    /// The User-Agent sent to the provider and the API (default tokenwarden/VERSION).
    #[arg(long, value_name = "TEXT")]
    user_agent: Option<String>,
    /// Do not check the issuer's discovery document over the network before writing.
    #[arg(long)]
    offline: bool,
    /// An `audience` parameter sent with token requests.
    #[arg(long)]
    audience: Option<String>,
    /// The grant `tokenwarden login` uses.
    #[arg(long, value_parser = ["authorization_code", "device_code", "client_credentials"])]
    grant: Option<String>,
    /// The Microsoft Entra tenant (microsoft preset; default `common`).
    #[arg(long)]
    tenant: Option<String>,
    /// How long before expiry to refresh, e.g. 30s or 2m.
    #[arg(long, value_name = "DURATION")]
    refresh_skew: Option<String>,
    /// The environment variable `env`, `exec` and `token --format env` put the token in.
    #[arg(long, value_name = "VAR")]
    export_env: Option<String>,
    /// A git host whose HTTPS credentials `git-credential` gives from this profile (repeat for
    /// several).
    #[arg(long = "git-host", value_name = "HOST")]
    git_hosts: Vec<String>,
    /// Allow plain-http endpoints that are not loopback (tokens would travel unencrypted).
    #[arg(long)]
    allow_insecure_http: bool,
    /// Replace the profile if it already exists.
    #[arg(long)]
    force: bool,
}

/// Runs `tokenwarden profile`.
pub async fn run(global: &Global, out: &Printer, args: ProfileArgs) -> Result<()> {
    let paths = Paths::from_env()?;
    match args.command {
        ProfileCommand::Add(a) => add(out, &paths, *a.0).await,
        ProfileCommand::List => list(global, out, &paths),
        ProfileCommand::Show { name } => {
            show(out, &paths, name.as_deref().unwrap_or(&global.profile))
        }
        ProfileCommand::Remove { name } => remove(out, &paths, &name),
        ProfileCommand::Set { name, key, value } => set(out, &paths, &name, &key, &value),
        ProfileCommand::Unset { name, key } => unset(out, &paths, &name, &key),
        ProfileCommand::Keys => keys(out),
    }
}

fn set(out: &Printer, paths: &Paths, name: &str, key: &str, words: &[String]) -> Result<()> {
    let path = paths.config_file();
    let value = EditValue::parse(key, words)?;
    let changed = edit::set_profile_key(&path, name, key, value)?;
    change(
        out,
        name,
        if changed { "set" } else { "unchanged" },
        &path,
        key,
    )
}

fn unset(out: &Printer, paths: &Paths, name: &str, key: &str) -> Result<()> {
    let path = paths.config_file();
    let changed = edit::unset_profile_key(&path, name, key)?;
    change(
        out,
        name,
        if changed { "unset" } else { "unchanged" },
        &path,
        key,
    )
}

/// Says what `set` or `unset` did.
fn change(
    out: &Printer,
    name: &str,
    action: &'static str,
    path: &std::path::Path,
    key: &str,
) -> Result<()> {
    if out.json() {
        out.print_json(&json::ProfileChange::<()> {
            profile: name,
            action,
            path: path.display().to_string(),
            created_file: None,
            warnings: None,
        })?;
        return Ok(());
    }
    let what = match action {
        "set" => format!("set `{key}` of profile `{name}` in {}", path.display()),
        "unset" => format!(
            "removed `{key}` from profile `{name}` in {}",
            path.display()
        ),
        _ => format!("profile `{name}` already had that `{key}`: nothing changed"),
    };
    out.out(what)?;
    Ok(())
}

fn keys(out: &Printer) -> Result<()> {
    let keys = tokenwarden::config::PROFILE_KEYS;
    if out.json() {
        let doc: Vec<json::ProfileKey> = keys
            .iter()
            .map(|k| json::ProfileKey {
                name: k.name,
                kind: k.kind_name(),
                help: k.help,
            })
            .collect();
        out.print_json(&doc)?;
        return Ok(());
    }
    let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
    for k in keys {
        out.out(format!(
            "{:width$}  {:<20}  {}",
            k.name,
            k.kind_name(),
            k.help
        ))?;
    }
    Ok(())
}

fn print_warnings(out: &Printer, warnings: &[Diagnostic]) {
    for w in warnings {
        match &w.hint {
            Some(h) => out.warning(&format!("{} ({h})", w.message)),
            None => out.warning(&w.message),
        }
    }
}

async fn add(out: &Printer, paths: &Paths, a: AddArgs) -> Result<()> {
    let mut p = NewProfile::new(&a.name);
    p.set_opt("provider", a.provider)?
        .set_opt("issuer", a.issuer)?
        .set("client_id", EditValue::Str(a.client_id))?
        .set_opt("client_secret_env", a.client_secret_env)?
        .set_opt("client_auth", a.client_auth)?
        .set_list("scopes", &a.scopes)?
        .set_opt("redirect_uri", a.redirect_uri)?
        .set_list("registered_redirect_uris", &a.registered_redirect_uris)?
        .set_opt("token_request_format", a.token_request_format)?
        .set_opt("authorization_endpoint", a.authorization_endpoint)?
        .set_opt("token_endpoint", a.token_endpoint)?
        .set_opt(
            "device_authorization_endpoint",
            a.device_authorization_endpoint,
        )?
        .set_opt("revocation_endpoint", a.revocation_endpoint)?
        .set_opt("resource", a.resource)?
        .set_list("resource_indicator", &a.resource_indicators)?
        .set_opt("user_agent", a.user_agent)?
        .set_opt("audience", a.audience)?
        .set_opt("grant", a.grant)?
        .set_opt("tenant", a.tenant)?
        .set_opt("refresh_skew", a.refresh_skew)?
        .set_opt("export_env", a.export_env)?
        .set_list("git_hosts", &a.git_hosts)?;
    if a.allow_insecure_http {
        p.set("allow_insecure_http", EditValue::Bool(true))?;
    }
    if a.refresh_revokes_previous_access_token {
        p.set(
            "refresh_revokes_previous_access_token",
            EditValue::Bool(true),
        )?;
    }
    let path = paths.config_file();
    let pending = edit::prepare_add(&path, &p, a.force)?;
    let mut warnings = Vec::new();
    if !a.offline {
        warnings.extend(tokenwarden::http::locate::check_profile(pending.profile()).await?);
    }
    let mut added = pending.write()?;
    added.warnings.extend(warnings);
    print_warnings(out, &added.warnings);
    let verb = if added.replaced { "replaced" } else { "added" };
    if out.json() {
        out.print_json(&json::ProfileChange {
            profile: &a.name,
            action: verb,
            path: path.display().to_string(),
            created_file: Some(added.created_file),
            warnings: Some(added.warnings.as_slice()),
        })?;
    } else {
        out.out(format!("{verb} profile `{}` in {}", a.name, path.display()))?;
    }
    Ok(())
}

fn list(global: &Global, out: &Printer, paths: &Paths) -> Result<()> {
    let config = Config::load(paths)?;
    let mut rows = Vec::new();
    for name in config.profile_names() {
        let Some(s) = config.summary(&name) else {
            continue;
        };
        let problems = config.check(&name).map(|c| c.problems).unwrap_or_default();
        rows.push((s, problems));
    }
    if out.json() {
        let doc: Vec<json::ProfileListRow> = rows
            .iter()
            .map(|(s, problems)| json::ProfileListRow {
                name: s.name.clone(),
                provider: s.provider.clone(),
                issuer: s.issuer.clone(),
                client_id: s.client_id.clone(),
                token_endpoint: s.token_endpoint.clone(),
                selected: s.name == global.profile,
                valid: problems.is_empty(),
                problems: problems.iter().map(ToString::to_string).collect(),
            })
            .collect();
        out.print_json(&doc)?;
        return Ok(());
    }
    if rows.is_empty() {
        out.err(format!(
            "no profiles in {}; add one with `tokenwarden profile add NAME --issuer URL --client-id ID`",
            config.path().display()
        ));
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|(s, _)| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.out(format!(
        "  {:width$}  {:10}  {:20}  WHERE",
        "NAME", "PROVIDER", "CLIENT ID"
    ))?;
    for (s, problems) in &rows {
        let mark = if s.name == global.profile { '*' } else { ' ' };
        let at = s
            .issuer
            .clone()
            .or_else(|| s.token_endpoint.clone())
            .unwrap_or_else(|| "(preset)".into());
        let status = if problems.is_empty() {
            String::new()
        } else {
            format!(
                "  [invalid: {} problem(s); see `tokenwarden profile show {}`]",
                problems.len(),
                s.name
            )
        };
        out.out(format!(
            "{mark} {:width$}  {:10}  {:20}  {}{status}",
            s.name,
            one_line(&s.provider),
            one_line(s.client_id.as_deref().unwrap_or("-")),
            one_line(&at)
        ))?;
    }
    Ok(())
}

fn url_or<T: std::fmt::Display>(u: &Option<T>, issuer: bool) -> String {
    match u {
        Some(u) => u.to_string(),
        None if issuer => "(from discovery)".into(),
        None => "(none)".into(),
    }
}

fn show(out: &Printer, paths: &Paths, name: &str) -> Result<()> {
    let config = Config::load(paths)?;
    let loaded = config.profile(name)?;
    print_warnings(out, &loaded.warnings);
    let p = &loaded.profile;
    let secret = p.secret_status();
    if out.json() {
        out.print_json(&show_json(p, &secret, &config))?;
        return Ok(());
    }
    let has_issuer = p.issuer.is_some();
    let e = &p.endpoints;
    let secret_line = match secret.source {
        "env" => format!(
            "from ${} ({})",
            secret.env_var.as_deref().unwrap_or("?"),
            if secret.available { "set" } else { "not set" }
        ),
        "inline" => "inline in config.toml (move it to client_secret_env)".into(),
        _ => "none (public client)".into(),
    };
    let r = &p.retry;
    let lines = [
        (
            "profile",
            format!("{}  ({})", p.name, config.path().display()),
        ),
        ("provider", p.provider.to_string()),
        (
            "issuer",
            p.issuer.clone().unwrap_or_else(|| "(none)".into()),
        ),
        ("client_id", p.client_id.clone()),
        ("client secret", secret_line),
        ("client_auth", p.client_auth.as_str().into()),
        ("grant", p.grant.as_str().into()),
        (
            "scopes",
            if p.scopes.is_empty() {
                "(none)".into()
            } else {
                p.scopes.join(" ")
            },
        ),
        (
            "redirect_uri",
            p.redirect_uri
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1/callback (default, ephemeral port)".into()),
        ),
        (
            "registered",
            if p.registered_redirect_uris.is_empty() {
                "(not set: no redirect lint)".into()
            } else {
                p.registered_redirect_uris.join(" ")
            },
        ),
        ("authorization", url_or(&e.authorization, has_issuer)),
        ("token", url_or(&e.token, has_issuer)),
        ("device", url_or(&e.device_authorization, has_issuer)),
        ("revocation", url_or(&e.revocation, has_issuer)),
        ("token format", p.token_request_format.as_str().into()),
        (
            "resource",
            p.resource.clone().unwrap_or_else(|| "(none)".into()),
        ),
        (
            "indicators",
            if p.resource_indicators.is_empty() {
                "(none: no RFC 8707 resource parameter is sent)".into()
            } else {
                p.resource_indicators.join(" ")
            },
        ),
        ("token headers", headers_text(&p.token_request_headers)),
        ("API headers", headers_text(&p.resource_headers)),
        ("user_agent", p.user_agent().into()),
        (
            "revokes old",
            if p.refresh_revokes_previous_access_token {
                "yes: a refresh revokes the previous access token (nobody gets the old one once a refresh may have started)".into()
            } else {
                "no".into()
            },
        ),
        (
            "refresh_skew",
            humantime::format_duration(p.refresh_skew).to_string(),
        ),
        (
            "timeouts",
            format!(
                "{} request, {} connect",
                humantime::format_duration(p.timeout),
                humantime::format_duration(p.connect_timeout)
            ),
        ),
        (
            "retry",
            format!(
                "{} attempts, backoff {}..{}, breaker after {} failures for {}",
                r.max_attempts,
                humantime::format_duration(r.base_delay),
                humantime::format_duration(r.max_delay),
                r.breaker_threshold,
                humantime::format_duration(r.breaker_cooldown)
            ),
        ),
        ("quirks", quirks_text(p)),
    ];
    for (k, v) in lines {
        out.out(format!("{k:>14}: {}", one_line(&v)))?;
    }
    Ok(())
}

fn headers_text(specs: &[tokenwarden::config::HeaderSpec]) -> String {
    if specs.is_empty() {
        return "(none)".into();
    }
    specs
        .iter()
        .map(|h| format!("{}: {}", h.name, h.describe()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn quirks_text(p: &Profile) -> String {
    let q = &p.quirks;
    let mut out = Vec::new();
    if q.send_accept_json {
        out.push("sends Accept: application/json");
    }
    if q.form_encoded_responses {
        out.push("form-encoded responses");
    }
    if q.may_not_expire {
        out.push("tokens may not expire");
    }
    if q.errors_with_status_200 {
        out.push("errors with status 200");
    }
    if q.scope_on_every_token_request {
        out.push("scope on every token request");
    }
    if q.tenant_in_path {
        out.push("tenant in the endpoint path");
    }
    if q.verification_url_alias {
        out.push("verification_url in device responses");
    }
    if q.state_in_token_request {
        out.push("state in the code exchange");
    }
    if out.is_empty() {
        "(none: plain RFC 6749)".into()
    } else {
        out.join(", ")
    }
}

fn opt_str<T: std::fmt::Display>(u: &Option<T>) -> Option<String> {
    u.as_ref().map(ToString::to_string)
}

fn show_json<'a>(
    p: &'a Profile,
    secret: &'a tokenwarden::config::SecretStatus,
    config: &Config,
) -> json::ProfileShow<'a> {
    let preset = p.provider.preset();
    json::ProfileShow {
        name: &p.name,
        path: config.path().display().to_string(),
        provider: p.provider,
        issuer: p.issuer.as_deref(),
        client_id: &p.client_id,
        client_secret: secret,
        client_auth: p.client_auth,
        grant: p.grant,
        scopes: &p.scopes,
        redirect_uri: p.redirect_uri.as_deref(),
        registered_redirect_uris: &p.registered_redirect_uris,
        endpoints: json::ProfileEndpoints {
            authorization: opt_str(&p.endpoints.authorization),
            token: opt_str(&p.endpoints.token),
            device_authorization: opt_str(&p.endpoints.device_authorization),
            revocation: opt_str(&p.endpoints.revocation),
            discovered: p.needs_discovery(),
        },
        token_request_format: p.token_request_format,
        resource: p.resource.as_deref(),
        resource_indicators: &p.resource_indicators,
        refresh_revokes_previous_access_token: p.refresh_revokes_previous_access_token,
        token_request_headers: json::ProfileHeader::list(&p.token_request_headers),
        resource_headers: json::ProfileHeader::list(&p.resource_headers),
        user_agent: p.user_agent(),
        audience: p.audience.as_deref(),
        refresh_skew_s: p.refresh_skew.as_secs_f64(),
        timeout_s: p.timeout.as_secs_f64(),
        connect_timeout_s: p.connect_timeout.as_secs_f64(),
        retry: json::ProfileRetry {
            max_attempts: p.retry.max_attempts,
            base_delay_ms: p.retry.base_delay.as_millis() as u64,
            max_delay_ms: p.retry.max_delay.as_millis() as u64,
            breaker_threshold: p.retry.breaker_threshold,
            breaker_cooldown_s: p.retry.breaker_cooldown.as_secs_f64(),
        },
        quirks: &p.quirks,
        preset_sources: preset.sources,
        allow_insecure_http: p.allow_insecure_http,
        export_env: p.export_env.as_deref(),
        tenant: p.tenant.as_deref(),
    }
}

fn remove(out: &Printer, paths: &Paths, name: &str) -> Result<()> {
    let path = paths.config_file();
    edit::remove_profile(&path, name)?;
    if out.json() {
        out.print_json(&json::ProfileChange::<()> {
            profile: name,
            action: "removed",
            path: path.display().to_string(),
            created_file: None,
            warnings: None,
        })?;
    } else {
        out.out(format!("removed profile `{name}` from {}", path.display()))?;
    }
    Ok(())
}
