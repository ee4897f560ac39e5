//! Profiles: reading `config.toml`, provider presets, validation and the redirect-URI lint.
//!
//! # Layout
//! - this file: the resolved [`Profile`], [`Config`] (the file, read) and loading.
//! - [`preset`]: provider presets and their [`Quirks`].
//! - [`lint`]: the redirect-URI lint (also used by `doctor`).
//! - [`edit`]: writing profiles with `toml_edit`, keeping the user's comments and order.
//! - [`headers`]: the extra headers a profile sends, and its `User-Agent`.
//! - `types`: [`TokenRequestFormat`], [`ClientAuth`], [`GrantType`].
//! - `parse`: the key schema, spans and "did you mean"; `validate` (with `checks`): raw keys to
//!   a [`Profile`].
//! - `exposure`: an inline `client_secret` in a file others may read (refused).
//!
//! Loading never stops at the first problem: [`Config::profile`] reports every problem of the
//! file and of the chosen profile at once, each with its line and column, in one
//! [`ErrorKind::Config`](crate::ErrorKind::Config) error. Warnings (an inline `client_secret`)
//! come back beside the profile for the caller to show.

mod api;
mod checks;
pub mod edit;
mod exposure;
pub mod headers;
pub mod lint;
mod parse;
pub mod preset;
mod types;
mod validate;

pub use headers::{DEFAULT_USER_AGENT, HeaderSource, HeaderSpec, ResolvedHeader};
pub use lint::{RedirectDifference, RedirectMismatch, lint_redirect_uri, redirect_matches};
pub use parse::{KeySpec, Loc, PROFILE_KEYS, did_you_mean, edit_distance};
pub use preset::{Preset, Provider, Quirks};
pub use types::{ClientAuth, GrantType, TokenRequestFormat};

use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::retry::RetryPolicy;
use crate::secret::ClientSecret;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// The profile used when neither `--profile` nor `TOKENWARDEN_PROFILE` names one.
pub const DEFAULT_PROFILE: &str = "default";

/// The whole-request timeout used when a profile sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The connect timeout used when a profile sets none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a refresh's answer waits for the token database when another process holds it,
/// when the profile does not set `store_write_wait`.
pub const DEFAULT_STORE_WRITE_WAIT: Duration = Duration::from_secs(30);

/// The failure-rate threshold when a profile sets none (5 %): the 5xx share of the requests to
/// the authorization server over the last 15 minutes above which `status` and `doctor` warn.
pub const DEFAULT_FAILURE_RATE_THRESHOLD: f64 = 0.05;

/// The `[store]` table of config.toml, as written (the URL is parsed by the store).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    /// `url`: a `postgres://` URL of the fleet store; `None`: this machine's file.
    /// `TOKENWARDEN_STORE_URL` wins over it.
    pub url: Option<String>,
    /// `key_file`: the fleet key file the operator distributes (relative to the config
    /// directory), used when `TOKENWARDEN_KEY` is not set.
    pub key_file: Option<PathBuf>,
    /// `auto_migrate`: whether the first use may create or upgrade the fleet store's schema
    /// (default true).
    pub auto_migrate: bool,
}

/// The endpoints of a profile: the preset's, overridden by the profile's keys. Endpoints that
/// are still `None` come from discovery when the profile has an issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint (RFC 6749 §3.1).
    pub authorization: Option<Url>,
    /// The token endpoint (RFC 6749 §3.2).
    pub token: Option<Url>,
    /// The device authorization endpoint (RFC 8628 §3.1).
    pub device_authorization: Option<Url>,
    /// The revocation endpoint (RFC 7009).
    pub revocation: Option<Url>,
}

/// Where the client secret comes from. The secret itself is never kept in the profile when it
/// comes from the environment: it is read when a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// No secret (a public client).
    None,
    /// Read from this environment variable.
    Env(String),
    /// Written in config.toml (discouraged; a warning says so).
    Inline(ClientSecret),
}

/// What can be said about the client secret without showing it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretStatus {
    /// `none`, `env` or `inline`.
    pub source: &'static str,
    /// The environment variable, for `env`.
    pub env_var: Option<String>,
    /// Whether a value is available now.
    pub available: bool,
}

/// A validated profile: everything needed to talk to one provider as one client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// The provider preset.
    pub provider: Provider,
    /// How the provider departs from RFC 6749.
    pub quirks: Quirks,
    /// The issuer, as written (discovery and the mix-up check use it).
    pub issuer: Option<String>,
    /// The endpoints known without discovery.
    pub endpoints: Endpoints,
    /// The endpoints are the preset's (the profile keeps the preset's issuer): nothing is
    /// discovered beyond them (a preset's missing endpoint, like GitHub's revocation, does not
    /// exist). A profile that names another issuer (a sovereign cloud, a test server) discovers
    /// its endpoints instead.
    pub preset_endpoints: bool,
    /// The client id.
    pub client_id: String,
    /// Where the client secret comes from.
    pub client_secret: SecretSource,
    /// How the client authenticates.
    pub client_auth: ClientAuth,
    /// The scopes to request.
    pub scopes: Vec<String>,
    /// The redirect URI used at login (`None`: `http://127.0.0.1/callback` on an ephemeral port).
    pub redirect_uri: Option<String>,
    /// The redirect URI of a paste login (`login --paste`): a provider-hosted page that shows
    /// the code to paste (`None`: [`Profile::redirect_uri`], else the default loopback one).
    pub paste_redirect_uri: Option<String>,
    /// The redirect URIs registered at the provider, for the lint.
    pub registered_redirect_uris: Vec<String>,
    /// How token request bodies are encoded.
    pub token_request_format: TokenRequestFormat,
    /// How long before expiry a token is refreshed.
    pub refresh_skew: Duration,
    /// The API the profile talks to: the default URL of `request` and the proxy's upstream
    /// (key `resource`). Not sent to the authorization server.
    pub resource: Option<String>,
    /// RFC 8707 resource indicators (key `resource_indicator`): sent as `resource` with the
    /// authorization request and every token request (RFC 8707 §2).
    pub resource_indicators: Vec<String>,
    /// The provider revokes the previous access token when it refreshes: no caller is handed
    /// the old token once a refresh may have started, and a bare 403 right after a refresh is
    /// treated like a 401.
    pub refresh_revokes_previous_access_token: bool,
    /// Extra headers sent with token, device-authorization and revocation requests.
    pub token_request_headers: Vec<HeaderSpec>,
    /// Extra headers sent with API calls (`request`, [`crate::session::Session::send`] callers,
    /// the proxy); the preset's, then the profile's.
    pub resource_headers: Vec<HeaderSpec>,
    /// The `User-Agent` (`None`: [`DEFAULT_USER_AGENT`]).
    pub user_agent: Option<String>,
    /// Parameters only the authorization request carries (the preset's, e.g. Anthropic's
    /// `code=true`).
    pub authorization_params: Vec<(String, String)>,
    /// An `audience` parameter sent with token requests.
    pub audience: Option<String>,
    /// Extra parameters sent with authorization and token requests.
    pub extra_params: Vec<(String, String)>,
    /// Plain-http endpoints that are not loopback are allowed.
    pub allow_insecure_http: bool,
    /// The variable `tokenwarden env` exports.
    pub export_env: Option<String>,
    /// The git hosts whose credentials `git-credential` gives from this profile.
    pub git_hosts: Vec<String>,
    /// The user name `git-credential` gives with the token ([`Profile::git_username`]).
    pub git_username: Option<String>,
    /// The whole-request timeout.
    pub timeout: Duration,
    /// The connect timeout.
    pub connect_timeout: Duration,
    /// Backoff and circuit breaker settings.
    pub retry: RetryPolicy,
    /// How long a caller with no usable token waits for another process's refresh; `None`:
    /// the longest refresh the retry policy allows ([`Profile::lock_wait`]).
    pub lock_wait: Option<Duration>,
    /// How long a refresh's answer waits for the token database when another process holds
    /// it, before it is kept in a recovery file instead ([`DEFAULT_STORE_WRITE_WAIT`]).
    pub store_write_wait: Duration,
    /// The 5xx rate (0..1) over the last 15 minutes above which `status` and `doctor` warn
    /// ([`DEFAULT_FAILURE_RATE_THRESHOLD`] when unset).
    pub failure_rate_threshold: f64,
    /// The grant `login` uses by default.
    pub grant: GrantType,
    /// The Microsoft tenant.
    pub tenant: Option<String>,
    /// How long a login lasts at this provider when its token responses do not say
    /// (`refresh_token_expires_in`): a known session cap, counted from the login.
    pub session_lifetime: Option<Duration>,
    /// How long before the refresh token expires `token` warns (once a day) and `doctor`
    /// fails ([`crate::horizon::DEFAULT_WARNING`] when unset).
    pub refresh_expiry_warning: Duration,
    /// Headers (lower-case names) the proxy drops from client requests.
    pub proxy_strip_headers: Vec<String>,
}

impl Profile {
    /// How long a caller with no usable token waits for another process's refresh: the
    /// profile's `lock_wait`, else the longest refresh its retry policy and timeout allow
    /// ([`RetryPolicy::default_lock_wait`]).
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
            .unwrap_or_else(|| self.retry.default_lock_wait(self.timeout))
    }

    /// A generic profile with every default, for library users who build profiles in code.
    pub fn new(name: impl Into<String>, client_id: impl Into<String>) -> Self {
        Profile {
            name: name.into(),
            provider: Provider::Generic,
            quirks: Quirks::default(),
            issuer: None,
            endpoints: Endpoints::default(),
            preset_endpoints: false,
            client_id: client_id.into(),
            client_secret: SecretSource::None,
            client_auth: ClientAuth::None,
            scopes: Vec::new(),
            redirect_uri: None,
            paste_redirect_uri: None,
            registered_redirect_uris: Vec::new(),
            token_request_format: TokenRequestFormat::Form,
            refresh_skew: crate::token::DEFAULT_REFRESH_SKEW,
            resource: None,
            resource_indicators: Vec::new(),
            refresh_revokes_previous_access_token: false,
            token_request_headers: Vec::new(),
            resource_headers: Vec::new(),
            user_agent: None,
            authorization_params: Vec::new(),
            audience: None,
            extra_params: Vec::new(),
            allow_insecure_http: false,
            export_env: None,
            git_hosts: Vec::new(),
            git_username: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            lock_wait: None,
            store_write_wait: DEFAULT_STORE_WRITE_WAIT,
            failure_rate_threshold: DEFAULT_FAILURE_RATE_THRESHOLD,
            grant: GrantType::AuthorizationCode,
            tenant: None,
            session_lifetime: None,
            refresh_expiry_warning: crate::horizon::DEFAULT_WARNING,
            proxy_strip_headers: Vec::new(),
        }
    }

    /// The client secret, read now from its source. `Ok(None)` for a public client; a Config
    /// error naming the variable when the variable is not set.
    pub fn client_secret(&self) -> Result<Option<ClientSecret>> {
        self.client_secret_from(|var| std::env::var(var).ok())
    }

    /// Like [`Profile::client_secret`], with the environment given as a lookup (for tests).
    pub fn client_secret_from(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ClientSecret>> {
        match &self.client_secret {
            SecretSource::None => Ok(None),
            SecretSource::Inline(s) => Ok(Some(s.clone())),
            SecretSource::Env(name) => match var(name).filter(|v| !v.is_empty()) {
                Some(v) => Ok(Some(ClientSecret::new(v))),
                None => Err(Error::config(format!(
                    "profile `{}` reads its client secret from the environment variable \
                     {name}, which is not set",
                    self.name
                ))
                .with_hint(format!(
                    "export {name}=<the client secret from the provider's app settings>"
                ))),
            },
        }
    }

    /// Says where the secret comes from and whether it is available, without reading it into
    /// anything that could be shown.
    pub fn secret_status(&self) -> SecretStatus {
        match &self.client_secret {
            SecretSource::None => SecretStatus {
                source: "none",
                env_var: None,
                available: false,
            },
            SecretSource::Inline(_) => SecretStatus {
                source: "inline",
                env_var: None,
                available: true,
            },
            SecretSource::Env(v) => SecretStatus {
                source: "env",
                env_var: Some(v.clone()),
                available: std::env::var_os(v).is_some_and(|x| !x.is_empty()),
            },
        }
    }

    /// The user name git is given with the token: the profile's `git_username`, else the
    /// provider's convention (GitHub: `x-access-token`; Google, GitLab and others: `oauth2`).
    pub fn git_username(&self) -> &str {
        match (&self.git_username, self.provider) {
            (Some(name), _) => name,
            (None, Provider::Github) => "x-access-token",
            (None, _) => "oauth2",
        }
    }

    /// True when this profile gives git's credentials for `host` (`git_hosts`, compared
    /// without case; a port must match when either names one).
    pub fn serves_git_host(&self, host: &str) -> bool {
        self.git_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// True when endpoints are missing and an issuer can supply them by discovery.
    pub fn needs_discovery(&self) -> bool {
        self.issuer.is_some() && self.endpoints.token.is_none()
    }

    /// Lints the redirect URI against the registered ones (see [`lint`]).
    pub fn lint_redirect(&self) -> Option<RedirectMismatch> {
        let uri = self.redirect_uri.as_deref()?;
        lint_redirect_uri(uri, &self.registered_redirect_uris)
    }
}

/// A problem or warning about the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Where in config.toml (line 0 when there is no better place).
    pub loc: Loc,
    /// The dotted key, e.g. `profiles.work.client_id`.
    pub key: String,
    /// What is wrong, in words.
    pub message: String,
    /// How to fix it, when there is more to say than the message.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(loc: Loc, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            loc,
            key: key.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.loc.line > 0 {
            write!(f, "line {}, column {}: ", self.loc.line, self.loc.column)?;
        }
        f.write_str(&self.message)
    }
}

/// A profile as written, for listings (see [`Config::summary`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProfileSummary {
    /// The name.
    pub name: String,
    /// The provider as written (`generic` when absent).
    pub provider: String,
    /// The issuer as written.
    pub issuer: Option<String>,
    /// The client id as written.
    pub client_id: Option<String>,
    /// The token endpoint as written.
    pub token_endpoint: Option<String>,
}

/// A profile and the warnings its configuration deserves.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    /// The profile.
    pub profile: Profile,
    /// Warnings to show (e.g. an inline client secret).
    pub warnings: Vec<Diagnostic>,
}

/// The result of checking one profile: the profile when it is valid, and everything found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The profile, when there were no problems.
    pub profile: Option<Profile>,
    /// Problems (any makes the profile unusable), the lint findings included.
    pub problems: Vec<Diagnostic>,
    /// The problems that are lint findings (a redirect URI the provider will refuse): the
    /// profile is complete, but a login with it would fail.
    pub lint: Vec<Diagnostic>,
    /// The profile when its only problems are lint findings: for diagnosis (`doctor` reports
    /// the findings and checks the rest), never for a login.
    pub linted: Option<Profile>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
}

/// `config.toml`, read and checked key by key (but not yet validated per profile).
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    exists: bool,
    raw: parse::RawFile,
    /// The file's permission bits when its group or others may read it (Unix); a profile with
    /// an inline `client_secret` is then refused.
    shared_mode: Option<u32>,
}

impl Config {
    /// Reads `config.toml` from `paths`. A missing file is an empty configuration.
    pub fn load(paths: &Paths) -> Result<Config> {
        Self::load_file(&paths.config_file())
    }

    /// Reads the configuration at `path`. A missing file is an empty configuration.
    pub fn load_file(path: &Path) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut config = Self::parse(path, &text)?;
                config.shared_mode = exposure::shared_mode(path);
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config {
                path: path.to_path_buf(),
                exists: false,
                raw: parse::RawFile::default(),
                shared_mode: None,
            }),
            Err(e) => Err(
                Error::config(format!("cannot read {}: {e}", path.display()))
                    .with_hint("check the file's permissions")
                    .with_source(e),
            ),
        }
    }

    /// Parses `text` as the content of `path` (the path is only used in messages). A TOML
    /// syntax error is a Config error with its line and column.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let doc = toml_edit::Document::parse(text.to_string())
            .map_err(|e| syntax_error(path, text, &e))?;
        Ok(Config {
            path: path.to_path_buf(),
            exists: true,
            raw: parse::read(&doc, text),
            shared_mode: None,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file exists.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The profile names, in file order.
    pub fn profile_names(&self) -> Vec<String> {
        self.raw.profiles.iter().map(|p| p.name.clone()).collect()
    }

    /// Whether a profile of that name exists.
    pub fn has_profile(&self, name: &str) -> bool {
        self.raw.profiles.iter().any(|p| p.name == name)
    }

    /// What the profile `name` says about itself as written (with `[defaults]`), even when it
    /// is invalid: for listings.
    pub fn summary(&self, name: &str) -> Option<ProfileSummary> {
        let table = self.raw.profiles.iter().find(|p| p.name == name)?;
        let get = |k: &str| -> Option<String> {
            match table.keys.get(k).or_else(|| self.raw.defaults.get(k)) {
                Some(parse::Entry {
                    value: parse::Value::Str(s),
                    ..
                }) => Some(s.clone()),
                _ => None,
            }
        };
        Some(ProfileSummary {
            name: name.to_string(),
            provider: get("provider").unwrap_or_else(|| Provider::Generic.as_str().to_string()),
            issuer: get("issuer"),
            client_id: get("client_id"),
            token_endpoint: get("token_endpoint"),
        })
    }

    /// The `[store]` table: where the tokens are kept when not in this machine's file.
    pub fn store(&self) -> StoreConfig {
        let raw = &self.raw.store;
        let base = self.path.parent().unwrap_or(Path::new("."));
        StoreConfig {
            url: raw.url.clone().filter(|u| !u.trim().is_empty()),
            key_file: raw.key_file.as_ref().map(|f| base.join(f)),
            auto_migrate: raw.auto_migrate.unwrap_or(true),
        }
    }

    /// Problems outside any profile (top-level keys, `[defaults]`, `[store]`).
    pub fn file_problems(&self) -> &[Diagnostic] {
        &self.raw.problems
    }

    /// Checks one profile (with `[defaults]` applied); `None` when there is no such profile.
    pub fn check(&self, name: &str) -> Option<Checked> {
        let table = self.raw.profiles.iter().find(|p| p.name == name)?;
        let mut merged = self.raw.defaults.clone();
        merged.extend(table.keys.clone());
        let mut checked = validate::build(name, &merged, table.loc);
        let mut problems = self.raw.problems.clone();
        let mut own = std::mem::take(&mut checked.problems);
        own.extend(table.problems.iter().cloned());
        if let Some(p) = exposure::exposed_secret(self, table, name) {
            own.push(p);
        }
        own.sort_by_key(|d| (d.loc.line, d.loc.column));
        problems.append(&mut own);
        if !problems.is_empty() {
            checked.profile = None;
        }
        if problems.len() > checked.lint.len() {
            checked.linted = None;
        }
        checked.problems = problems;
        Some(checked)
    }

    /// The profile `name`, validated, or one Config error listing every problem.
    pub fn profile(&self, name: &str) -> Result<LoadedProfile> {
        let Some(checked) = self.check(name) else {
            return Err(self.no_such_profile(name));
        };
        match checked.profile {
            Some(profile) if checked.problems.is_empty() => Ok(LoadedProfile {
                profile,
                warnings: checked.warnings,
            }),
            _ => Err(problems_error(&self.path, name, &checked.problems)),
        }
    }

    /// The error for a profile that is not in the file.
    pub fn no_such_profile(&self, name: &str) -> Error {
        let names = self.profile_names();
        let mut msg = if !self.exists {
            format!(
                "no profile `{name}`: {} does not exist yet",
                self.path.display()
            )
        } else if names.is_empty() {
            format!(
                "no profile `{name}`: {} has no profiles",
                self.path.display()
            )
        } else {
            format!(
                "no profile `{name}` in {} (it has: {})",
                self.path.display(),
                names.join(", ")
            )
        };
        if let Some(s) = did_you_mean(name, names.iter().map(String::as_str)) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        Error::config(msg).with_hint(format!(
            "add it with `tokenwarden profile add {name} --issuer URL --client-id ID`, or choose \
             another with --profile / TOKENWARDEN_PROFILE"
        ))
    }
}

/// Reads `config.toml` from `paths` and validates the profile `name`.
pub fn load_profile(paths: &Paths, name: &str) -> Result<LoadedProfile> {
    Config::load(paths)?.profile(name)
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]` URLs (plain http is allowed to these).
pub fn is_loopback_url(url: &Url) -> bool {
    checks::is_loopback(url)
}

/// The profile named by `TOKENWARDEN_PROFILE`, else [`DEFAULT_PROFILE`].
pub fn profile_name_from_env() -> String {
    std::env::var("TOKENWARDEN_PROFILE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
}

fn syntax_error(path: &Path, text: &str, e: &toml_edit::TomlError) -> Error {
    let loc = parse::LineIndex::new(text).loc(e.span().map(|s| s.start));
    Error::config(format!(
        "{} is not valid TOML: line {}, column {}: {}",
        path.display(),
        loc.line,
        loc.column,
        e.message().trim()
    ))
    .with_hint("fix the syntax at that place (https://toml.io explains the format)")
}

fn problems_error(path: &Path, name: &str, problems: &[Diagnostic]) -> Error {
    let mut msg = if problems.len() == 1 {
        format!("profile `{name}` in {} has a problem:", path.display())
    } else {
        format!(
            "profile `{name}` in {} has {} problems:",
            path.display(),
            problems.len()
        )
    };
    for p in problems {
        msg.push_str(&format!("\n  - {p}"));
        if let (Some(h), true) = (&p.hint, problems.len() > 1) {
            msg.push_str(&format!("\n    ({h})"));
        }
    }
    let hint = match problems {
        [one] if one.hint.is_some() => one.hint.clone().unwrap_or_default(),
        _ => format!("edit {} and fix each line listed", path.display()),
    };
    let mut err = Error::config(msg).with_hint(hint);
    if problems
        .iter()
        .any(|p| p.key.ends_with(".redirect_uri") && p.hint.is_some())
    {
        err = err.with_cause(crate::error::Cause::RedirectMismatch);
    }
    err
}
