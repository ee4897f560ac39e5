//! Redirect URIs: exact matching with the loopback port exception (RFC 8252 §7.3), a plain
//! explanation of near misses, and building the redirect back to the client.
//!
//! A registered URI may also name its port `{port}` (`http://localhost:{port}/callback`), as
//! some providers register their command-line clients: any port matches there, for any host.

/// The loopback IP literals whose port may vary (RFC 8252 §7.3). `localhost` is not one.
const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Splits `http://127.0.0.1[:port]rest` into (prefix, rest); `None` for anything else.
fn split_loopback(uri: &str) -> Option<(&'static str, &str)> {
    let prefix = LOOPBACK_PREFIXES.into_iter().find(|p| uri.starts_with(p))?;
    let mut rest = &uri[prefix.len()..];
    if let Some(after_colon) = rest.strip_prefix(':') {
        let digits = after_colon
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_colon.len());
        let port = &after_colon[..digits];
        if port.is_empty() || port.len() > 5 || port.parse::<u16>().is_err() {
            return None;
        }
        rest = &after_colon[digits..];
    }
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
        Some((prefix, rest))
    } else {
        None
    }
}

/// The placeholder for "any port" in a registered redirect URI.
pub(crate) const PORT_PLACEHOLDER: &str = "{port}";

/// Whether `requested` may be used for the registered URI `registered`: identical strings,
/// both loopback IP-literal URIs that differ only in the port, or `registered` with `{port}`
/// where `requested` has a port.
pub(crate) fn matches(registered: &str, requested: &str) -> bool {
    if requested.contains('#') {
        return false;
    }
    if registered == requested {
        return true;
    }
    if let Some((before, after)) = registered.split_once(PORT_PLACEHOLDER) {
        return requested
            .strip_prefix(before)
            .and_then(|rest| {
                let digits = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                rest[..digits]
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .map(|_| &rest[digits..])
            })
            .is_some_and(|rest| rest == after);
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some((rp, rr)), Some((qp, qr))) => rp == qp && rr == qr,
        _ => false,
    }
}

/// Explains why `requested` matches none of `registered`, naming the near miss if any.
pub(crate) fn explain_mismatch(client_id: &str, registered: &[String], requested: &str) -> String {
    let list = registered.join(", ");
    let mut why = format!(
        "redirect_uri `{requested}` is not registered for client `{client_id}` (registered: {list})."
    );
    let hint = registered.iter().find_map(|reg| near_miss(reg, requested));
    if let Some(h) = hint {
        why.push(' ');
        why.push_str(&h);
    }
    why
}

fn near_miss(reg: &str, req: &str) -> Option<String> {
    if req.contains('#') {
        return Some("A redirect URI must not contain a fragment (RFC 6749 §3.1.2).".into());
    }
    let trim = |s: &str| s.trim_end_matches('/').to_owned();
    if trim(reg) == trim(req) || matches(&trim(reg), &trim(req)) {
        return Some(format!(
            "It differs from `{reg}` only by a trailing slash; redirect URIs are compared exactly."
        ));
    }
    if req.contains("://localhost") {
        let as_ip = req.replacen("://localhost", "://127.0.0.1", 1);
        if matches(reg, &as_ip) {
            return Some(format!(
                "`localhost` is not `127.0.0.1`: register or use `{reg}`; the any-port rule of RFC 8252 §7.3 applies only to the IP literals 127.0.0.1 and [::1]."
            ));
        }
    }
    if let Some(rest) = req.strip_prefix("https://")
        && matches(reg, &format!("http://{rest}"))
    {
        return Some(format!("It uses https where `{reg}` uses http."));
    }
    if let Some(rest) = req.strip_prefix("http://")
        && matches(reg, &format!("https://{rest}"))
    {
        return Some(format!("It uses http where `{reg}` uses https."));
    }
    None
}

/// `base` with query parameters appended (keeping any query it already has).
pub(crate) fn with_params(base: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(base).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_port_placeholder_matches_any_port() {
        let reg = "http://localhost:{port}/callback";
        assert!(super::matches(reg, "http://localhost:54545/callback"));
        assert!(!super::matches(reg, "http://localhost/callback"));
        assert!(!super::matches(reg, "http://localhost:0/callback"));
        assert!(!super::matches(reg, "http://localhost:54545/callback/x"));
        assert!(!super::matches(reg, "http://127.0.0.1:54545/callback"));
    }

    use super::*;

    const REG: &str = "http://127.0.0.1/callback";

    #[test]
    fn loopback_ip_any_port() {
        assert!(matches(REG, "http://127.0.0.1/callback"));
        assert!(matches(REG, "http://127.0.0.1:45678/callback"));
        assert!(matches(
            "http://127.0.0.1:8080/callback",
            "http://127.0.0.1:1/callback"
        ));
        assert!(matches("http://[::1]/cb", "http://[::1]:9/cb"));
        assert!(!matches("http://[::1]/cb", "http://127.0.0.1:9/cb"));
    }

    #[test]
    fn everything_else_is_exact() {
        assert!(!matches(REG, "http://127.0.0.1/callback/"));
        assert!(!matches(REG, "http://127.0.0.1:5/callback/"));
        assert!(!matches(REG, "http://localhost:5/callback"));
        assert!(!matches(
            "http://localhost/callback",
            "http://localhost:5/callback"
        ));
        assert!(!matches(REG, "http://127.0.0.10/callback"));
        assert!(!matches(REG, "http://127.0.0.1:99999/callback"));
        assert!(!matches(REG, "http://127.0.0.1:/callback"));
        assert!(!matches(REG, "https://127.0.0.1/callback"));
        assert!(!matches(REG, "http://127.0.0.1/callback#x"));
        assert!(!matches(REG, "http://127.0.0.1/callback?x=1"));
        assert!(matches("https://app.example/cb", "https://app.example/cb"));
        assert!(!matches(
            "https://app.example/cb",
            "https://app.example:443/cb"
        ));
    }

    #[test]
    fn near_misses_are_named() {
        let reg = vec![REG.to_owned()];
        assert!(
            explain_mismatch("cli", &reg, "http://127.0.0.1/callback/").contains("trailing slash")
        );
        assert!(
            explain_mismatch("cli", &reg, "http://localhost:80/callback").contains("localhost")
        );
        assert!(explain_mismatch("cli", &reg, "https://127.0.0.1/callback").contains("https"));
    }

    #[test]
    fn params_are_appended() {
        let u = with_params(
            "http://127.0.0.1:5/cb?x=1",
            &[("code", "a b"), ("state", "s&t")],
        )
        .expect("valid");
        assert_eq!(u, "http://127.0.0.1:5/cb?x=1&code=a+b&state=s%26t");
    }
}
