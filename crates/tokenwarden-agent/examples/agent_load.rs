//! A load generator for `bench/agent-socket.sh`: tokens served over the agent's socket per
//! second. Opens CONNECTIONS connections, each writing DEPTH `token` requests before reading
//! their answers (the protocol allows pipelining), for SECONDS; prints one JSON line.
//!
//!     cargo run --release -p tokenwarden-agent --example agent_load -- SOCKET PROFILE [CONNECTIONS] [DEPTH] [SECONDS]

use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: agent_load SOCKET PROFILE [CONNECTIONS] [DEPTH] [SECONDS]");
        std::process::exit(2);
    }
    let socket = args[1].clone();
    let profile = args[2].clone();
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (connections, depth, seconds) = (arg(3, 4), arg(4, 32), arg(5, 5));
    let line = format!("{{\"v\":1,\"type\":\"token\",\"profile\":{profile:?},\"min_ttl_ms\":0}}\n");
    let batch = line.repeat(depth as usize);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (socket, batch) = (socket.clone(), batch.clone());
        tasks.spawn(async move {
            let stream = tokio::net::UnixStream::connect(&socket)
                .await
                .expect("the agent's socket accepts");
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let mut answer = String::new();
            let (mut served, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                w.write_all(batch.as_bytes()).await.expect("write");
                for _ in 0..depth {
                    answer.clear();
                    if r.read_line(&mut answer).await.expect("read") == 0 {
                        panic!("the agent closed the connection");
                    }
                    if answer.contains("\"type\":\"token\"") {
                        served += 1;
                    } else {
                        errors += 1;
                    }
                }
            }
            (served, errors)
        });
    }
    let (mut served, mut errors) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (s, e) = done.expect("a connection");
        served += s;
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"tokens\":{served},\"errors\":{errors},\"seconds\":{secs:.2},\"tokens_per_second\":{:.0},\"connections\":{connections},\"depth\":{depth}}}",
        served as f64 / secs
    );
}
