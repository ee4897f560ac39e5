//! Which proxy the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) applies to
//! a URL, mirroring the HTTP client, so `doctor` can say whether a proxy stands between us and
//! the provider.

use url::Url;

/// The proxy that applies to `url` according to the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
/// `ALL_PROXY`, `NO_PROXY`, upper or lower case), with any credentials removed; `None` when
/// the request goes direct. This mirrors what the HTTP client does, for `doctor`.
pub fn proxy_for(url: &Url) -> Option<String> {
    proxy_for_vars(url, |name| {
        std::env::var(name)
            .ok()
            .or_else(|| std::env::var(name.to_ascii_lowercase()).ok())
            .filter(|v| !v.trim().is_empty())
    })
}

/// [`proxy_for`] with the environment given as a lookup of upper-case names (tests).
pub fn proxy_for_vars(url: &Url, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    if let Some(no_proxy) = var("NO_PROXY") {
        for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return None;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = entry.split(':').next().unwrap_or(entry);
            if host.eq_ignore_ascii_case(entry)
                || host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", entry.to_ascii_lowercase()))
            {
                return None;
            }
        }
    }
    let chosen = match url.scheme() {
        "https" => var("HTTPS_PROXY"),
        "http" => var("HTTP_PROXY"),
        _ => None,
    }
    .or_else(|| var("ALL_PROXY"))?;
    match Url::parse(&chosen) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            Some(u.to_string())
        }
        Err(_) => Some(chosen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_from_the_environment() {
        let url = Url::parse("https://oauth2.googleapis.com/token").unwrap();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(proxy_for_vars(&url, env(&[])), None);
        assert_eq!(
            proxy_for_vars(&url, env(&[("HTTPS_PROXY", "http://user:pw@proxy:3128")])),
            Some("http://proxy:3128/".into())
        );
        assert_eq!(
            proxy_for_vars(
                &url,
                env(&[
                    ("HTTPS_PROXY", "http://proxy:3128"),
                    ("NO_PROXY", ".googleapis.com")
                ])
            ),
            None
        );
        assert_eq!(
            proxy_for_vars(&url, env(&[("HTTP_PROXY", "http://p:1")])),
            None,
            "HTTP_PROXY does not apply to https"
        );
    }
}
