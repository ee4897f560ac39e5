//! Latency the proxy adds, for `bench/proxy-latency.sh`: the same GET sent N times straight to
//! the upstream (with a bearer token) and through the proxy, interleaved, each over its own
//! keep-alive connection; prints one JSON line with p50/p99 of both and of the difference.
//!
//!     cargo run --release -p tokenwarden-agent --example proxy_latency -- DIRECT_URL PROXY_URL TOKEN [N]

use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: proxy_latency DIRECT_URL PROXY_URL TOKEN [N]");
        std::process::exit(2);
    }
    let (direct_url, proxy_url, token) = (&args[1], &args[2], &args[3]);
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(2000);
    tokenwarden::http::install_crypto_provider();
    let client = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client")
    };
    let (direct, proxied) = (client(), client());
    let once = async |c: &reqwest::Client, url: &str, bearer: bool| -> Duration {
        let mut req = c.get(url);
        if bearer {
            req = req.bearer_auth(token);
        }
        let t = Instant::now();
        let resp = req.send().await.expect("answers");
        assert_eq!(resp.status(), 200, "{url}");
        resp.bytes().await.expect("body");
        t.elapsed()
    };
    // Warm both connections.
    for _ in 0..50 {
        once(&direct, direct_url, true).await;
        once(&proxied, proxy_url, false).await;
    }
    let (mut d, mut p) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        d.push(once(&direct, direct_url, true).await);
        p.push(once(&proxied, proxy_url, false).await);
    }
    let pct = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6
    };
    let (d50, d99) = (pct(&mut d, 0.5), pct(&mut d, 0.99));
    let (p50, p99) = (pct(&mut p, 0.5), pct(&mut p, 0.99));
    println!(
        "{{\"requests\":{n},\"direct_us\":{{\"p50\":{d50:.0},\"p99\":{d99:.0}}},\"proxy_us\":{{\"p50\":{p50:.0},\"p99\":{p99:.0}}},\"added_us\":{{\"p50\":{:.0},\"p99\":{:.0}}}}}",
        p50 - d50,
        p99 - d99
    );
}
