//! The first two steps to the provider, told apart so that each failure is named: `dns` (tokio's
//! `lookup_host`) and `tcp` (`TcpStream::connect`), to the first hop of a URL (the proxy, when
//! one applies).

use super::Check;
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// What a failed `dns` or `tcp` check adds: the checks that need the connection did not run.
const SKIPPED: &str =
    "; TLS, discovery and the token endpoint are checked once the connection works";

/// `dns` then `tcp` for the first hop to `url` (the proxy, when one applies); `origin` says
/// where the URL comes from (e.g. `issuer = "…" of profile `work``), for the fixes. False when
/// the host cannot be reached.
pub(super) async fn connectivity(
    url: &Url,
    origin: &str,
    timeout: Duration,
    checks: &mut Vec<Check>,
) -> bool {
    let (hop, via) = match crate::http::proxy_for(url).and_then(|p| Url::parse(&p).ok()) {
        Some(proxy) => (proxy, " (the proxy)"),
        None => (url.clone(), ""),
    };
    let proxied = !via.is_empty();
    // Where to correct the host or port: the proxy variable, or the profile.
    let fix_in = if proxied {
        "the proxy variable (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY; NO_PROXY bypasses it)"
            .to_string()
    } else {
        origin.to_string()
    };
    let host = hop
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let Some(port) = hop.port_or_known_default() else {
        checks.push(Check::fail(
            "dns",
            format!("{hop} has no port and an unknown scheme"),
            "use an http or https URL",
        ));
        return false;
    };
    let secs = timeout.as_secs_f64();
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        checks.push(Check::ok(
            "dns",
            format!("{host}{via} is an IP address: no lookup needed"),
        ));
        vec![SocketAddr::new(ip, port)]
    } else {
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(found)) => {
                let addrs: Vec<SocketAddr> = found.collect();
                let shown: Vec<String> = addrs.iter().take(4).map(|a| a.ip().to_string()).collect();
                checks.push(Check::ok(
                    "dns",
                    format!("{host}{via} resolves to {}", shown.join(", ")),
                ));
                addrs
            }
            Ok(Err(e)) => {
                checks.push(Check::fail(
                    "dns",
                    format!("the host name {host}{via} does not resolve: {e}"),
                    format!("check the host name in {fix_in} for a typo, then your DNS settings, VPN or network connection{SKIPPED}"),
                ));
                return false;
            }
            Err(_) => {
                checks.push(Check::fail(
                    "dns",
                    format!("looking up {host}{via} took longer than {secs:.0} s"),
                    format!("check your DNS settings (/etc/resolv.conf), VPN or network connection{SKIPPED}"),
                ));
                return false;
            }
        }
    };
    let mut last = None;
    for addr in &addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                checks.push(Check::ok("tcp", format!("connected to {addr}{via}")));
                return true;
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let what = if proxied { "the proxy" } else { "the server" };
                last = Some((
                    format!("{addr}{via} refused the connection: nothing listens on port {port}"),
                    format!("check the port in {fix_in}, and that {what} is running there"),
                ));
            }
            Ok(Err(e)) => {
                last = Some((
                    format!("cannot connect to {addr}{via}: {e}"),
                    "check the network route and firewall to that host".to_string(),
                ));
            }
            Err(_) => {
                last = Some((
                    format!("no answer from {addr}{via} within {secs:.0} s"),
                    "a firewall may drop the packets, or the host is down; check the network, VPN and proxy settings".to_string(),
                ));
            }
        }
    }
    let (detail, fix) = last.unwrap_or_else(|| {
        (
            format!("{host}{via} resolved to no address"),
            "check the DNS records of the host".to_string(),
        )
    });
    checks.push(Check::fail("tcp", detail, format!("{fix}{SKIPPED}")));
    false
}
