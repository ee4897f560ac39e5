//! Turns the checked keys of one profile into a [`Profile`], collecting every problem on the way
//! (bad URLs, plain http, missing `client_id` or endpoints, unknown presets, bad durations, the
//! redirect-URI lint) and every warning (an inline secret).

use super::checks::{Ctx, check_redirect, int_key, provider_names, valid_env_name, valid_scope};
use super::parse::{Entry, Loc, RawProfile, Value};
use super::{
    Checked, ClientAuth, Diagnostic, Endpoints, GrantType, Preset, Profile, Provider, SecretSource,
    TokenRequestFormat, preset::DEFAULT_MICROSOFT_TENANT,
};
use crate::secret::ClientSecret;
use url::Url;

/// Parameters tokenwarden sets itself; `extra_params` may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "client_id",
    "client_secret",
    "redirect_uri",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "refresh_token",
    "device_code",
    "state",
    "response_type",
];

/// Builds the profile `name` from its keys (with `[defaults]` already merged in).
pub(crate) fn build(name: &str, raw: &RawProfile, table: Loc) -> Checked {
    let mut c = Ctx {
        name,
        raw,
        table,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let insecure_ok = c.bool("allow_insecure_http").unwrap_or(false);

    let provider = c
        .choice("provider", &provider_names(), Provider::parse)
        .unwrap_or_default();
    let preset = provider.preset();
    let quirks = preset.quirks;

    let tenant = c.str("tenant").map(|(s, loc)| (s.to_string(), loc));
    if let Some((_, loc)) = &tenant
        && !quirks.tenant_in_path
    {
        let key = c.key("tenant");
        c.warnings.push(Diagnostic::new(
            *loc,
            key,
            format!("`tenant` is only used by the microsoft preset; provider is {provider}"),
        ));
    }
    let tenant_value = tenant
        .as_ref()
        .map(|(t, _)| t.clone())
        .unwrap_or_else(|| DEFAULT_MICROSOFT_TENANT.to_string());
    let fill =
        |t: Option<&'static str>| t.and_then(|t| Url::parse(&Preset::fill(t, &tenant_value)).ok());

    // client_id
    let client_id = match c.str("client_id") {
        Some((s, _)) if !s.trim().is_empty() => s.to_string(),
        Some((_, loc)) => {
            c.problem(loc, "client_id", "`client_id` is empty");
            String::new()
        }
        None => {
            let key = c.key("client_id");
            c.problems.push(
                Diagnostic::new(c.table, key, format!("profile `{name}` has no `client_id`"))
                    .with_hint("add client_id = \"...\" (the id the provider gave your app)"),
            );
            String::new()
        }
    };

    // issuer
    let preset_issuer = preset.issuer.map(|t| Preset::fill(t, &tenant_value));
    let issuer = match c.str("issuer") {
        Some((s, loc)) => {
            let url = c.check_url("issuer", s, loc, insecure_ok);
            if let Some(u) = &url
                && u.query().is_some()
            {
                c.problem(
                    loc,
                    "issuer",
                    format!("`issuer` = \"{s}\" must not have a query string"),
                );
            }
            url.map(|_| s.to_string())
        }
        None => preset_issuer.clone(),
    };
    // A profile that names an issuer of its own (a sovereign cloud, a test server) discovers
    // its endpoints from it instead of taking the preset's.
    let preset_endpoints = match (&preset_issuer, &issuer) {
        (Some(p), Some(i)) => p.trim_end_matches('/') == i.trim_end_matches('/'),
        (None, _) => true,
        (Some(_), None) => true,
    };

    // endpoints: the profile's keys override the preset's
    let endpoint = |c: &mut Ctx<'_>, k: &str, preset_value: Option<&'static str>| {
        if c.str(k).is_some() {
            c.url(k, insecure_ok)
        } else if preset_endpoints {
            fill(preset_value)
        } else {
            None
        }
    };
    let endpoints = Endpoints {
        authorization: endpoint(
            &mut c,
            "authorization_endpoint",
            preset.authorization_endpoint,
        ),
        token: endpoint(&mut c, "token_endpoint", preset.token_endpoint),
        device_authorization: endpoint(
            &mut c,
            "device_authorization_endpoint",
            preset.device_authorization_endpoint,
        ),
        revocation: endpoint(&mut c, "revocation_endpoint", preset.revocation_endpoint),
    };
    let grant_set = c.str("grant").is_some();
    let grant = c
        .choice("grant", &GrantType::NAMES, GrantType::parse)
        .unwrap_or_default();
    let any_endpoint_key_bad = [
        "token_endpoint",
        "authorization_endpoint",
        "device_authorization_endpoint",
        "issuer",
    ]
    .iter()
    .any(|k| c.problems.iter().any(|p| p.key.ends_with(&format!(".{k}"))));
    if issuer.is_none() && !any_endpoint_key_bad {
        if endpoints.token.is_none() {
            let key = c.key("token_endpoint");
            c.problems.push(
                Diagnostic::new(
                    c.table,
                    key,
                    format!(
                        "profile `{name}` has no endpoints: no `issuer` to discover them from, no \
                         provider preset, and no `token_endpoint`"
                    ),
                )
                .with_hint(
                    "set issuer = \"https://...\" (endpoints are discovered), or provider = \
                     \"google\" etc., or token_endpoint / authorization_endpoint",
                ),
            );
        }
        if grant_set {
            let needed = match grant {
                GrantType::AuthorizationCode => endpoints
                    .authorization
                    .is_none()
                    .then_some("authorization_endpoint"),
                GrantType::DeviceCode => endpoints
                    .device_authorization
                    .is_none()
                    .then_some("device_authorization_endpoint"),
                GrantType::ClientCredentials => None,
            };
            if let Some(k) = needed {
                let loc = c.str("grant").map(|(_, l)| l).unwrap_or(c.table);
                c.problem(
                    loc,
                    k,
                    format!(
                        "grant = \"{}\" needs `{k}` (there is no issuer to discover it from)",
                        grant.as_str()
                    ),
                );
            }
        }
    }

    // the client secret
    let env = c.str("client_secret_env");
    let inline = c.str("client_secret");
    let client_secret = match (env, inline) {
        (Some((_, loc)), Some(_)) => {
            c.problem(
                loc,
                "client_secret_env",
                "both `client_secret_env` and `client_secret` are set: keep only client_secret_env",
            );
            SecretSource::None
        }
        (Some((v, loc)), None) => {
            if valid_env_name(v) {
                SecretSource::Env(v.to_string())
            } else {
                c.problem(
                    loc,
                    "client_secret_env",
                    // The value is not shown: the usual mistake is pasting the secret itself.
                    format!(
                        "`client_secret_env` holds {} characters that are not an environment \
                         variable name (letters, digits and _): it names the variable that holds \
                         the secret, it is not the secret; if you pasted the secret there, remove \
                         it from the file and export it instead",
                        v.chars().count()
                    ),
                );
                SecretSource::None
            }
        }
        (None, Some((s, loc))) => {
            let key = c.key("client_secret");
            c.warnings.push(
                Diagnostic::new(
                    loc,
                    key,
                    format!(
                        "profile `{name}` has an inline client_secret in config.toml: anyone \
                         who can read the file has it"
                    ),
                )
                .with_hint(
                    "move it to an environment variable and set client_secret_env = \"VAR\"",
                ),
            );
            SecretSource::Inline(ClientSecret::new(s))
        }
        (None, None) => SecretSource::None,
    };
    let has_secret = !matches!(client_secret, SecretSource::None);
    let client_auth = match c.choice("client_auth", &ClientAuth::NAMES, ClientAuth::parse) {
        Some(a) => a,
        None if has_secret => quirks
            .default_client_auth
            .unwrap_or(ClientAuth::ClientSecretBasic),
        None => ClientAuth::None,
    };
    if client_auth.needs_secret() && !has_secret && env.is_none() {
        let loc = c.str("client_auth").map(|(_, l)| l).unwrap_or(c.table);
        c.problem(
            loc,
            "client_auth",
            format!(
                "client_auth = \"{}\" needs a client secret, and none is configured: set \
                 client_secret_env = \"VAR\"",
                client_auth.as_str()
            ),
        );
    }
    if client_auth == ClientAuth::None && has_secret && c.str("client_auth").is_some() {
        let loc = c.str("client_auth").map(|(_, l)| l).unwrap_or(c.table);
        let key = c.key("client_auth");
        c.warnings.push(Diagnostic::new(
            loc,
            key,
            "a client secret is configured but client_auth = \"none\": it is never sent",
        ));
    }

    let token_request_format = c
        .choice(
            "token_request_format",
            &TokenRequestFormat::NAMES,
            TokenRequestFormat::parse,
        )
        .unwrap_or(quirks.token_request_format);

    // scopes
    let scopes = match c.list("scopes") {
        Some((list, loc)) => {
            for s in list.iter().filter(|s| !valid_scope(s)) {
                c.problem(
                    loc,
                    "scopes",
                    format!("scope \"{s}\" is not a valid scope token (no spaces, quotes or backslashes)"),
                );
            }
            list.to_vec()
        }
        None => preset
            .default_scopes
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };

    // redirect URIs and the lint
    let redirect_uri = match c.str("redirect_uri") {
        Some((s, loc)) => check_redirect(&mut c, s, loc, insecure_ok).then(|| s.to_string()),
        None => preset.redirect_uri.map(str::to_string),
    };
    let paste_redirect_uri = match c.str("paste_redirect_uri") {
        Some((s, loc)) => check_redirect(&mut c, s, loc, insecure_ok).then(|| s.to_string()),
        None => None,
    };
    let registered = match c.list("registered_redirect_uris") {
        Some((list, loc)) => {
            for r in list {
                if Url::parse(r).is_err() {
                    c.problem(
                        loc,
                        "registered_redirect_uris",
                        format!("registered redirect URI \"{r}\" is not a valid URI"),
                    );
                }
            }
            list.to_vec()
        }
        None => Vec::new(),
    };
    // A lint finding makes the profile unusable for a login, but the profile is complete:
    // `doctor` reports it and checks the rest.
    let mut lint = Vec::new();
    if let (Some(uri), Some((s, loc))) = (&redirect_uri, c.str("redirect_uri")) {
        debug_assert_eq!(uri, s);
        if let Some(m) = super::lint_redirect_uri(uri, &registered) {
            let key = c.key("redirect_uri");
            lint.push(Diagnostic::new(loc, key, m.to_string()).with_hint(m.hint()));
        }
    }

    let resource = c.str("resource").map(|(s, loc)| {
        if let Err(e) = Url::parse(s) {
            c.problem(
                loc,
                "resource",
                format!("`resource` = \"{s}\" is not an absolute URL ({e})"),
            );
        }
        s.to_string()
    });
    let resource_indicators = super::api::resource_indicators(&mut c);
    let api = super::api::api_keys(&mut c, preset);
    let audience = c.str("audience").map(|(s, _)| s.to_string());
    let extra_params = match c.raw.get("extra_params") {
        Some(Entry {
            value: Value::StrMap(m),
            loc,
        }) => {
            for (k, _) in m {
                if RESERVED_PARAMS.contains(&k.as_str()) {
                    c.problem(
                        *loc,
                        "extra_params",
                        format!("extra_params may not set `{k}`: tokenwarden sends it itself"),
                    );
                }
            }
            m.clone()
        }
        _ => Vec::new(),
    };

    let proxy_strip_headers = match c.list("proxy_strip_headers") {
        Some((names, loc)) => {
            let names = names.to_vec();
            for n in &names {
                if http::HeaderName::from_bytes(n.as_bytes()).is_err() {
                    c.problem(
                        loc,
                        "proxy_strip_headers",
                        format!("`proxy_strip_headers`: `{n}` is not a header name"),
                    );
                }
            }
            names.iter().map(|n| n.to_ascii_lowercase()).collect()
        }
        None => Vec::new(),
    };

    let export_env = c.str("export_env").and_then(|(s, loc)| {
        if valid_env_name(s) {
            Some(s.to_string())
        } else {
            c.problem(
                loc,
                "export_env",
                format!("`export_env` = \"{s}\" is not an environment variable name"),
            );
            None
        }
    });

    let git_hosts = c
        .list("git_hosts")
        .map(|(l, _)| l.to_vec())
        .unwrap_or_default();
    let git_username = c.str("git_username").map(|(s, _)| s.to_string());

    let refresh_skew = c.duration("refresh_skew", crate::token::DEFAULT_REFRESH_SKEW, true);
    let session_lifetime = c
        .str("session_lifetime")
        .is_some()
        .then(|| c.duration("session_lifetime", std::time::Duration::ZERO, false));
    let refresh_expiry_warning = c.duration(
        "refresh_expiry_warning",
        crate::horizon::DEFAULT_WARNING,
        true,
    );
    let timeout = c.duration("timeout", super::DEFAULT_TIMEOUT, false);
    let lock_wait = c
        .str("lock_wait")
        .is_some()
        .then(|| c.duration("lock_wait", std::time::Duration::ZERO, false));
    let connect_timeout = c.duration("connect_timeout", super::DEFAULT_CONNECT_TIMEOUT, false);
    let store_write_wait = c.duration("store_write_wait", super::DEFAULT_STORE_WRITE_WAIT, true);
    let defaults = crate::retry::RetryPolicy::default();
    let mut retry = crate::retry::RetryPolicy {
        base_delay: c.duration("retry_base_delay", defaults.base_delay, false),
        max_delay: c.duration("retry_max_delay", defaults.max_delay, false),
        max_retry_after: c.duration("max_retry_after", defaults.max_retry_after, true),
        breaker_cooldown: c.duration("breaker_cooldown", defaults.breaker_cooldown, false),
        ..defaults
    };
    retry.max_attempts = int_key(&mut c, "max_attempts", 1, 20, defaults.max_attempts);
    retry.breaker_threshold = int_key(
        &mut c,
        "breaker_threshold",
        1,
        1000,
        defaults.breaker_threshold,
    );
    if retry.base_delay > retry.max_delay {
        let loc = c.str("retry_base_delay").map(|(_, l)| l).unwrap_or(c.table);
        c.problem(
            loc,
            "retry_base_delay",
            "`retry_base_delay` is longer than `retry_max_delay`",
        );
    }
    let failure_rate_threshold = match c.raw.get("failure_rate_threshold") {
        Some(Entry {
            value: Value::Float(f),
            loc,
        }) => {
            if (0.0..=1.0).contains(f) {
                *f
            } else {
                let loc = *loc;
                c.problem(
                    loc,
                    "failure_rate_threshold",
                    format!("`failure_rate_threshold` must be between 0 and 1, not {f}"),
                );
                super::DEFAULT_FAILURE_RATE_THRESHOLD
            }
        }
        _ => super::DEFAULT_FAILURE_RATE_THRESHOLD,
    };

    let profile = Profile {
        name: name.to_string(),
        provider,
        quirks,
        issuer,
        endpoints,
        preset_endpoints,
        client_id,
        client_secret,
        client_auth,
        scopes,
        redirect_uri,
        paste_redirect_uri,
        registered_redirect_uris: registered,
        token_request_format,
        refresh_skew,
        resource,
        resource_indicators,
        refresh_revokes_previous_access_token: api.refresh_revokes_previous_access_token,
        token_request_headers: api.token_request_headers,
        resource_headers: api.resource_headers,
        user_agent: api.user_agent,
        authorization_params: preset
            .authorization_params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        audience,
        extra_params,
        allow_insecure_http: insecure_ok,
        export_env,
        git_hosts,
        git_username,
        timeout,
        connect_timeout,
        retry,
        lock_wait,
        store_write_wait,
        failure_rate_threshold,
        grant,
        tenant: tenant.map(|(t, _)| t),
        session_lifetime,
        refresh_expiry_warning,
        proxy_strip_headers,
    };
    let complete = c.problems.is_empty();
    let ok = complete && lint.is_empty();
    let mut problems = c.problems;
    problems.extend(lint.iter().cloned());
    Checked {
        linted: complete.then(|| profile.clone()),
        profile: ok.then_some(profile),
        problems,
        lint,
        warnings: c.warnings,
    }
}
