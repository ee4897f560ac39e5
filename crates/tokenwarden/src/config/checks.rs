//! The small readers validation is built from: one key at a time, typed, with a problem
//! recorded (with its line and column) instead of an early return, so that every problem of a
//! profile is found in one pass.

use super::parse::{Entry, Loc, RawProfile, Value};
use super::{Diagnostic, Provider, did_you_mean};
use std::time::Duration;
use url::Url;
pub(super) struct Ctx<'a> {
    pub(super) name: &'a str,
    pub(super) raw: &'a RawProfile,
    pub(super) table: Loc,
    pub(super) problems: Vec<Diagnostic>,
    pub(super) warnings: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    pub(super) fn key(&self, k: &str) -> String {
        format!("profiles.{}.{k}", self.name)
    }

    pub(super) fn problem(&mut self, loc: Loc, k: &str, msg: impl Into<String>) {
        let key = self.key(k);
        self.problems.push(Diagnostic::new(loc, key, msg));
    }

    pub(super) fn str(&self, k: &str) -> Option<(&'a str, Loc)> {
        match self.raw.get(k) {
            Some(Entry {
                value: Value::Str(s),
                loc,
            }) => Some((s.as_str(), *loc)),
            _ => None,
        }
    }

    pub(super) fn list(&self, k: &str) -> Option<(&'a [String], Loc)> {
        match self.raw.get(k) {
            Some(Entry {
                value: Value::StrList(v),
                loc,
            }) => Some((v.as_slice(), *loc)),
            _ => None,
        }
    }

    pub(super) fn bool(&self, k: &str) -> Option<bool> {
        match self.raw.get(k) {
            Some(Entry {
                value: Value::Bool(b),
                ..
            }) => Some(*b),
            _ => None,
        }
    }

    /// An enumerated value: parsed, or a problem naming the accepted values.
    pub(super) fn choice<T>(
        &mut self,
        k: &str,
        names: &[&'static str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let (s, loc) = self.str(k)?;
        if let Some(v) = parse(s) {
            return Some(v);
        }
        let mut msg = format!("`{k}` is `{s}`, which is not one of {}", names.join(", "));
        if let Some(m) = did_you_mean(s, names.iter().copied()) {
            msg.push_str(&format!("; did you mean `{m}`?"));
        }
        self.problem(loc, k, msg);
        None
    }

    pub(super) fn duration(&mut self, k: &str, default: Duration, allow_zero: bool) -> Duration {
        let Some((s, loc)) = self.str(k) else {
            return default;
        };
        match humantime::parse_duration(s) {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.problem(loc, k, format!("`{k}` must be longer than zero"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.problem(
                    loc,
                    k,
                    format!("`{k}` = \"{s}\" is not a duration ({e}); write e.g. \"30s\", \"500ms\" or \"2m\""),
                );
                default
            }
        }
    }

    /// A URL key: parsed, `http`/`https` only, plain http only to loopback unless allowed.
    pub(super) fn url(&mut self, k: &str, insecure_ok: bool) -> Option<Url> {
        let (s, loc) = self.str(k)?;
        self.check_url(k, s, loc, insecure_ok)
    }

    pub(super) fn check_url(
        &mut self,
        k: &str,
        s: &str,
        loc: Loc,
        insecure_ok: bool,
    ) -> Option<Url> {
        let url = match Url::parse(s) {
            Ok(u) => u,
            Err(e) => {
                self.problem(loc, k, format!("`{k}` = \"{s}\" is not a valid URL ({e})"));
                return None;
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) || insecure_ok => {}
            "http" => {
                let msg = format!(
                    "`{k}` = \"{s}\" uses plain http to a host that is not loopback: tokens and \
                     secrets would cross the network unencrypted"
                );
                let key = self.key(k);
                self.problems.push(Diagnostic::new(loc, key, msg).with_hint(
                    "use https, or set allow_insecure_http = true if you really mean it",
                ));
                return None;
            }
            other => {
                self.problem(
                    loc,
                    k,
                    format!("`{k}` = \"{s}\" must be an http or https URL, not `{other}:`"),
                );
                return None;
            }
        }
        if url.fragment().is_some() {
            self.problem(loc, k, format!("`{k}` = \"{s}\" must not have a #fragment"));
            return None;
        }
        Some(url)
    }
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(super) fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A scope token (RFC 6749 §3.3): printable ASCII except space, `"` and `\`.
pub(super) fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

pub(super) fn int_key(c: &mut Ctx<'_>, k: &str, min: i64, max: i64, default: u32) -> u32 {
    match c.raw.get(k) {
        Some(Entry {
            value: Value::Int(i),
            loc,
        }) => {
            let (i, loc) = (*i, *loc);
            if (min..=max).contains(&i) {
                u32::try_from(i).unwrap_or(default)
            } else {
                c.problem(
                    loc,
                    k,
                    format!("`{k}` must be between {min} and {max}, not {i}"),
                );
                default
            }
        }
        _ => default,
    }
}

pub(super) fn check_redirect(c: &mut Ctx<'_>, s: &str, loc: Loc, insecure_ok: bool) -> bool {
    let url = match Url::parse(s) {
        Ok(u) => u,
        Err(e) => {
            c.problem(
                loc,
                "redirect_uri",
                format!("`redirect_uri` = \"{s}\" is not a valid URI ({e})"),
            );
            return false;
        }
    };
    if url.fragment().is_some() {
        c.problem(
            loc,
            "redirect_uri",
            format!("`redirect_uri` = \"{s}\" must not have a #fragment (RFC 6749 §3.1.2)"),
        );
        return false;
    }
    if url.scheme() == "http" && !is_loopback(&url) && !insecure_ok {
        let key = c.key("redirect_uri");
        c.problems.push(
            Diagnostic::new(
                loc,
                key,
                format!(
                    "`redirect_uri` = \"{s}\" uses plain http to a host that is not loopback: \
                     the authorization code would cross the network unencrypted"
                ),
            )
            .with_hint("use http://127.0.0.1/callback (any port) or an https URI"),
        );
        return false;
    }
    true
}

pub(super) fn provider_names() -> Vec<&'static str> {
    Provider::ALL.iter().map(|p| p.as_str()).collect()
}
