//! Reading `config.toml` into untyped-but-checked entries, keeping the line and column of every
//! key so that validation can point at the exact place of each problem.
//!
//! The file is parsed with `toml_edit` (which keeps spans). Every key is checked against the
//! schema in [`PROFILE_KEYS`]; unknown keys get a "did you mean" from [`did_you_mean`]. Nothing
//! here stops at the first problem: every problem is collected.

use super::Diagnostic;
use std::collections::BTreeMap;
use toml_edit::{Item, TableLike};

/// The TOML type a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string.
    Str,
    /// An array of strings (a single string is split on whitespace).
    StrList,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A number.
    Float,
    /// A table of string values.
    StrMap,
    /// A table of HTTP headers ([`super::headers`]).
    Headers,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::StrList => "an array of strings",
            Kind::Bool => "true or false",
            Kind::Int => "an integer",
            Kind::Float => "a number",
            Kind::StrMap => "a table of strings",
            Kind::Headers => "a table of headers",
        }
    }
}

/// One key a profile (or `[defaults]`) may hold.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The key as written in config.toml.
    pub name: &'static str,
    pub(crate) kind: Kind,
    /// What the key does.
    pub help: &'static str,
}

impl KeySpec {
    /// The TOML type the key takes, in words (`a string`, `an array of strings`, ...).
    pub fn kind_name(&self) -> &'static str {
        self.kind.describe()
    }
}

const fn key(name: &'static str, kind: Kind, help: &'static str) -> KeySpec {
    KeySpec { name, kind, help }
}

/// Every key a `[profiles.NAME]` table (or the `[defaults]` table) accepts.
pub const PROFILE_KEYS: &[KeySpec] = &[
    key(
        "provider",
        Kind::Str,
        "generic (default), anthropic, google, github or microsoft",
    ),
    key(
        "issuer",
        Kind::Str,
        "the issuer URL, used for discovery (RFC 8414 / OIDC)",
    ),
    key("client_id", Kind::Str, "the OAuth client id (required)"),
    key(
        "client_secret_env",
        Kind::Str,
        "the environment variable holding the client secret",
    ),
    key(
        "client_secret",
        Kind::Str,
        "an inline client secret (discouraged: use client_secret_env)",
    ),
    key("scopes", Kind::StrList, "the scopes to request"),
    key("redirect_uri", Kind::Str, "the redirect URI used at login"),
    key(
        "registered_redirect_uris",
        Kind::StrList,
        "the redirect URIs registered at the provider, for the lint",
    ),
    key("token_request_format", Kind::Str, "form (default) or json"),
    key(
        "client_auth",
        Kind::Str,
        "none, client_secret_basic or client_secret_post",
    ),
    key(
        "refresh_skew",
        Kind::Str,
        "how long before expiry to refresh, e.g. \"30s\"",
    ),
    key(
        "resource",
        Kind::Str,
        "the API the profile talks to: the default URL of `request` (and the proxy's upstream)",
    ),
    key(
        "resource_indicator",
        Kind::StrList,
        "RFC 8707 resource indicators, sent with the authorization and token requests",
    ),
    key(
        "refresh_revokes_previous_access_token",
        Kind::Bool,
        "the provider revokes the previous access token when it refreshes: nobody is handed the old one once a refresh may have started",
    ),
    key(
        "token_request_headers",
        Kind::Headers,
        "extra headers sent with token requests, e.g. { \"X-Key\" = { env = \"VAR\" } }",
    ),
    key(
        "resource_headers",
        Kind::Headers,
        "extra headers sent with API calls (`request`, the proxy)",
    ),
    key(
        "user_agent",
        Kind::Str,
        "the User-Agent sent to the provider and the API (default tokenwarden/VERSION)",
    ),
    key(
        "audience",
        Kind::Str,
        "an `audience` parameter sent with token requests",
    ),
    key(
        "extra_params",
        Kind::StrMap,
        "extra parameters sent with authorization and token requests",
    ),
    key(
        "authorization_endpoint",
        Kind::Str,
        "overrides the authorization endpoint",
    ),
    key("token_endpoint", Kind::Str, "overrides the token endpoint"),
    key(
        "device_authorization_endpoint",
        Kind::Str,
        "overrides the device authorization endpoint",
    ),
    key(
        "revocation_endpoint",
        Kind::Str,
        "overrides the revocation endpoint",
    ),
    key(
        "allow_insecure_http",
        Kind::Bool,
        "allow plain-http endpoints that are not loopback",
    ),
    key(
        "export_env",
        Kind::Str,
        "the environment variable `env`, `exec` and `token --format env` put the token in (default TOKENWARDEN_ACCESS_TOKEN)",
    ),
    key(
        "git_hosts",
        Kind::StrList,
        "the git hosts (e.g. \"github.com\") whose HTTPS credentials `git-credential` gives from this profile",
    ),
    key(
        "git_username",
        Kind::Str,
        "the user name `git-credential` gives with the token (default by provider: x-access-token for github, else oauth2)",
    ),
    key(
        "timeout",
        Kind::Str,
        "the whole-request timeout, e.g. \"20s\"",
    ),
    key(
        "connect_timeout",
        Kind::Str,
        "the TCP/TLS connect timeout, e.g. \"5s\"",
    ),
    key(
        "lock_wait",
        Kind::Str,
        "how long a caller with no usable token waits for another process's refresh (default: the longest refresh the retry settings allow)",
    ),
    key(
        "store_write_wait",
        Kind::Str,
        "how long a refresh's new tokens wait for the token database when another process holds it, before they are kept in a recovery file (default \"30s\")",
    ),
    key(
        "max_attempts",
        Kind::Int,
        "attempts for requests safe to repeat (default 4)",
    ),
    key(
        "retry_base_delay",
        Kind::Str,
        "the first backoff delay, e.g. \"500ms\"",
    ),
    key(
        "retry_max_delay",
        Kind::Str,
        "the largest backoff delay, e.g. \"30s\"",
    ),
    key(
        "max_retry_after",
        Kind::Str,
        "the longest Retry-After honoured before giving up, e.g. \"60s\"",
    ),
    key(
        "breaker_threshold",
        Kind::Int,
        "consecutive transient failures that open the circuit breaker",
    ),
    key(
        "breaker_cooldown",
        Kind::Str,
        "how long the circuit breaker stays open, e.g. \"30s\"",
    ),
    key(
        "failure_rate_threshold",
        Kind::Float,
        "5xx rate (0..1) over 15 minutes above which status and doctor warn (default 0.05)",
    ),
    key(
        "grant",
        Kind::Str,
        "the default login grant: authorization_code, device_code or client_credentials",
    ),
    key(
        "tenant",
        Kind::Str,
        "the Microsoft Entra tenant (default common)",
    ),
    key(
        "paste_redirect_uri",
        Kind::Str,
        "the provider-hosted page `login --paste` redirects to (it shows the code to paste)",
    ),
    key(
        "session_lifetime",
        Kind::Str,
        "how long a login lasts when the provider does not say (a known session cap), e.g. \"14d\"",
    ),
    key(
        "refresh_expiry_warning",
        Kind::Str,
        "how long before the refresh token expires `token` warns (once a day) and `doctor` fails (default \"3d\")",
    ),
    key(
        "proxy_strip_headers",
        Kind::StrList,
        "headers the proxy drops from client requests, e.g. [\"x-api-key\"]",
    ),
];

/// Looks a profile key up in the schema.
pub(crate) fn spec(name: &str) -> Option<&'static KeySpec> {
    PROFILE_KEYS.iter().find(|k| k.name == name)
}

/// A value read from the file, type-checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    StrList(Vec<String>),
    Bool(bool),
    Int(i64),
    Float(f64),
    StrMap(Vec<(String, String)>),
    Headers(Vec<(String, super::headers::RawHeader)>),
}

/// A line and column, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Loc {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

/// A value with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub value: Value,
    pub loc: Loc,
}

/// The keys of one table, checked against the schema.
pub(crate) type RawProfile = BTreeMap<&'static str, Entry>;

/// One `[profiles.NAME]` table.
#[derive(Debug, Clone)]
pub(crate) struct RawProfileTable {
    pub name: String,
    pub loc: Loc,
    pub keys: RawProfile,
    pub problems: Vec<Diagnostic>,
}

/// The `[store]` table: where the tokens are kept when not in this machine's file.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawStore {
    pub url: Option<String>,
    pub key_file: Option<String>,
    pub auto_migrate: Option<bool>,
}

/// The keys of `[store]`.
pub(crate) const STORE_KEYS: [&str; 3] = ["url", "key_file", "auto_migrate"];

/// The whole file, read.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawFile {
    pub defaults: RawProfile,
    pub profiles: Vec<RawProfileTable>,
    pub store: RawStore,
    /// Problems outside any profile (top-level keys, `[defaults]`).
    pub problems: Vec<Diagnostic>,
}

/// Converts byte offsets into line and column.
///
/// The line starts are found once, so each look-up is a binary search plus the one line's
/// characters: reading a file with many profiles stays linear in its size.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    pub fn loc(&self, offset: Option<usize>) -> Loc {
        let Some(offset) = offset else {
            return Loc::default();
        };
        let offset = offset.min(self.text.len());
        // The last line start at or before the offset (a start equal to the offset begins
        // the line the offset is on).
        let index = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let line_start = self.starts.get(index).copied().unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Loc {
            line: index + 1,
            column,
        }
    }
}

/// Reads a parsed document. Never fails: problems are collected.
pub(crate) fn read(doc: &toml_edit::Document<String>, text: &str) -> RawFile {
    let lines = LineIndex::new(text);
    let root = doc.as_table();
    let mut file = RawFile::default();
    for (name, item) in root.iter() {
        let loc = lines.loc(root.key(name).and_then(|k| k.span()).map(|s| s.start));
        match name {
            "profiles" => match item.as_table_like() {
                Some(profiles) => read_profiles(profiles, &lines, &mut file),
                None => file.problems.push(Diagnostic::new(
                    loc,
                    "profiles",
                    "`profiles` must be a table of profiles, e.g. [profiles.default]",
                )),
            },
            "defaults" => match item.as_table_like() {
                Some(t) => {
                    let mut problems = Vec::new();
                    file.defaults = read_keys(t, "defaults", &lines, &mut problems);
                    for key in ["client_id", "client_secret"] {
                        if let Some(e) = file.defaults.remove(key) {
                            problems.push(Diagnostic::new(
                                e.loc,
                                format!("defaults.{key}"),
                                format!("`{key}` belongs in a profile, not in [defaults]"),
                            ));
                        }
                    }
                    file.problems.extend(problems);
                }
                None => file.problems.push(Diagnostic::new(
                    loc,
                    "defaults",
                    "`defaults` must be a table ([defaults])",
                )),
            },
            "store" => match item.as_table_like() {
                Some(t) => file.store = read_store(t, &lines, &mut file.problems),
                None => file.problems.push(Diagnostic::new(
                    loc,
                    "store",
                    "`store` must be a table ([store])",
                )),
            },
            other => {
                let mut msg = format!("unknown top-level key `{other}`");
                if let Some(s) = did_you_mean(other, ["profiles", "defaults", "store"]) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                } else if spec(other).is_some() {
                    msg.push_str("; profile keys go inside a [profiles.NAME] table");
                }
                file.problems.push(Diagnostic::new(loc, other, msg));
            }
        }
    }
    file
}

fn read_store(
    table: &dyn TableLike,
    lines: &LineIndex<'_>,
    problems: &mut Vec<Diagnostic>,
) -> RawStore {
    let mut store = RawStore::default();
    for (name, item) in table.iter() {
        let loc = lines.loc(table.key(name).and_then(|k| k.span()).map(|s| s.start));
        let full = format!("store.{name}");
        let wrong = |want: &str| {
            Diagnostic::new(
                loc,
                full.clone(),
                format!("`{name}` must be {want}, not {}", type_name(item)),
            )
        };
        match name {
            "url" | "key_file" => match item.as_str() {
                Some(v) if name == "url" => store.url = Some(v.to_string()),
                Some(v) => store.key_file = Some(v.to_string()),
                None => problems.push(wrong("a string")),
            },
            "auto_migrate" => match item.as_bool() {
                Some(v) => store.auto_migrate = Some(v),
                None => problems.push(wrong("true or false")),
            },
            other => {
                let mut msg = format!("unknown key `{other}` in [store]");
                if let Some(s) = did_you_mean(other, STORE_KEYS) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                } else {
                    msg.push_str(&format!("; [store] takes {}", STORE_KEYS.join(", ")));
                }
                problems.push(Diagnostic::new(loc, full, msg));
            }
        }
    }
    store
}

fn read_profiles(profiles: &dyn TableLike, lines: &LineIndex<'_>, file: &mut RawFile) {
    for (name, item) in profiles.iter() {
        let key_loc = lines.loc(profiles.key(name).and_then(|k| k.span()).map(|s| s.start));
        let path = format!("profiles.{name}");
        match item.as_table_like() {
            Some(t) => {
                let loc = item
                    .span()
                    .map(|s| lines.loc(Some(s.start)))
                    .unwrap_or(key_loc);
                let mut problems = Vec::new();
                let keys = read_keys(t, &path, lines, &mut problems);
                file.profiles.push(RawProfileTable {
                    name: name.to_string(),
                    loc,
                    keys,
                    problems,
                });
            }
            None => file.profiles.push(RawProfileTable {
                name: name.to_string(),
                loc: key_loc,
                keys: RawProfile::new(),
                problems: vec![Diagnostic::new(
                    key_loc,
                    path,
                    format!("profile `{name}` must be a table ([profiles.{name}])"),
                )],
            }),
        }
    }
}

fn read_keys(
    table: &dyn TableLike,
    path: &str,
    lines: &LineIndex<'_>,
    problems: &mut Vec<Diagnostic>,
) -> RawProfile {
    let mut out = RawProfile::new();
    for (name, item) in table.iter() {
        let key_span = table.key(name).and_then(|k| k.span());
        let loc = lines.loc(key_span.or_else(|| item.span()).map(|s| s.start));
        let full = format!("{path}.{name}");
        let Some(spec) = spec(name) else {
            let mut msg = format!("unknown key `{name}`");
            if let Some(s) = did_you_mean(name, PROFILE_KEYS.iter().map(|k| k.name)) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            problems.push(Diagnostic::new(loc, full, msg));
            continue;
        };
        match convert(item, spec.kind) {
            Ok(value) => {
                out.insert(spec.name, Entry { value, loc });
            }
            Err(found) => problems.push(Diagnostic::new(
                loc,
                full,
                format!("`{name}` must be {}, not {found}", spec.kind.describe()),
            )),
        }
    }
    out
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => match v {
            toml_edit::Value::String(_) => "a string",
            toml_edit::Value::Integer(_) => "an integer",
            toml_edit::Value::Float(_) => "a float",
            toml_edit::Value::Boolean(_) => "a boolean",
            toml_edit::Value::Datetime(_) => "a date-time",
            toml_edit::Value::Array(_) => "an array",
            toml_edit::Value::InlineTable(_) => "a table",
        },
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn convert(item: &Item, kind: Kind) -> Result<Value, &'static str> {
    let found = type_name(item);
    match kind {
        Kind::Str => item
            .as_str()
            .map(|s| Value::Str(s.to_string()))
            .ok_or(found),
        Kind::Bool => item.as_bool().map(Value::Bool).ok_or(found),
        Kind::Int => item.as_integer().map(Value::Int).ok_or(found),
        Kind::Float => item
            .as_float()
            .or_else(|| item.as_integer().map(|i| i as f64))
            .map(Value::Float)
            .ok_or(found),
        Kind::StrList => {
            if let Some(s) = item.as_str() {
                return Ok(Value::StrList(
                    s.split_whitespace().map(str::to_string).collect(),
                ));
            }
            let arr = item.as_array().ok_or(found)?;
            let mut out = Vec::with_capacity(arr.len());
            for v in arr.iter() {
                out.push(
                    v.as_str()
                        .ok_or("an array with a non-string item")?
                        .to_string(),
                );
            }
            Ok(Value::StrList(out))
        }
        Kind::StrMap => {
            let t = item.as_table_like().ok_or(found)?;
            let mut out = Vec::new();
            for (k, v) in t.iter() {
                let s = v.as_str().ok_or("a table with a non-string value")?;
                out.push((k.to_string(), s.to_string()));
            }
            Ok(Value::StrMap(out))
        }
        Kind::Headers => {
            item.as_table_like().ok_or(found)?;
            super::headers::convert(item).map(Value::Headers)
        }
    }
}

/// The edit distance between two strings (in chars): insertions, deletions, substitutions and
/// transpositions of neighbours each count 1 (optimal string alignment), so `wrok` is 1 from
/// `work`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `input`, when one is close enough to be a likely typo: equal after
/// ignoring case, `_` and `-`, or within an edit distance of a third of its length (at least 1).
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let n_input = norm(input);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = if norm(c) == n_input {
            0
        } else {
            edit_distance(&input.to_lowercase(), c)
        };
        let limit = (c.chars().count() / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("wrok", "work"), 1);
    }

    #[test]
    fn suggestions() {
        let keys = PROFILE_KEYS.iter().map(|k| k.name);
        assert_eq!(did_you_mean("clientid", keys.clone()), Some("client_id"));
        assert_eq!(did_you_mean("scope", keys.clone()), Some("scopes"));
        assert_eq!(
            did_you_mean("Token-Endpoint", keys.clone()),
            Some("token_endpoint")
        );
        assert_eq!(did_you_mean("zzzzzz", keys), None);
    }

    #[test]
    fn line_and_column() {
        let idx = LineIndex::new("ab\ncd\nef");
        assert_eq!(idx.loc(Some(0)), Loc { line: 1, column: 1 });
        assert_eq!(idx.loc(Some(4)), Loc { line: 2, column: 2 });
        assert_eq!(idx.loc(Some(6)), Loc { line: 3, column: 1 });
    }
}
