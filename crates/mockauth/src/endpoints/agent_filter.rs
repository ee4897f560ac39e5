//! The token endpoint's User-Agent filter: like a provider behind a bot filter, requests whose
//! `User-Agent` matches one of `blocked_user_agents` get a 429 with a JSON error. Patterns are
//! case-insensitive and `*` matches any run of characters; a request without the header is
//! matched as the empty string.

use axum::http::{HeaderMap, header};

use crate::config::Config;
use crate::oauth::{ErrorCode, OAuthError};

/// The 429 for a blocked User-Agent, or `None` to go on.
pub(crate) fn refusal(config: &Config, headers: &HeaderMap) -> Option<OAuthError> {
    if config.blocked_user_agents.is_empty() {
        return None;
    }
    let agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let pattern = config
        .blocked_user_agents
        .iter()
        .find(|p| glob_matches(p, &agent))?;
    Some(OAuthError::new(
        ErrorCode::RateLimited,
        format!(
            "requests from this User-Agent are refused (it matches the blocked pattern `{pattern}`); send another User-Agent"
        ),
    ))
}

/// Whether `text` matches `pattern`, ASCII case-insensitively, `*` matching any run.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Greedy match with backtracking to the last `*` (linear in practice).
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("python-requests/*", "python-requests/2.31.0"));
        assert!(glob_matches("*Bot*", "my-crawler-bot/1"));
        assert!(glob_matches("curl/8.5.0", "CURL/8.5.0"));
        assert!(!glob_matches("curl/*", "tokenwarden/0.1 curl/8"));
        assert!(glob_matches("*curl/*", "tokenwarden/0.1 curl/8"));
        assert!(glob_matches("", ""));
        assert!(!glob_matches("", "x"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn only_configured_patterns_refuse() {
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, "axios/1.7".parse().expect("value"));
        assert!(refusal(&Config::default(), &headers).is_none());
        let cfg = Config {
            blocked_user_agents: vec!["axios/*".into()],
            ..Config::default()
        };
        let e = refusal(&cfg, &headers).expect("refused");
        assert_eq!(e.status.as_u16(), 429);
        assert!(refusal(&cfg, &HeaderMap::new()).is_none());
    }
}
