//! mockauth's integration tests: every behaviour over real HTTP on 127.0.0.1.
//!
//! One binary (STYLE.md habit 10); helpers in `util`. Tests never sleep to wait for state:
//! time-dependent behaviour (code, token and device-code expiry, poll intervals) is driven by
//! `ServerHandle::advance_clock`. The only sleep-like waits are injected latencies, where the
//! elapsed time is what is under test.

mod admin;
mod client_auth;
mod code_flow;
mod device;
mod discovery;
mod faults;
mod headers;
mod oidc;
mod provider;
mod raw_faults;
mod refresh;
mod resource;
mod revoke;
mod sites;
mod stream;
mod util;
