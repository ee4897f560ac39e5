//! The long-running side of tokenwarden: the agent (a per-user daemon that refreshes every
//! logged-in profile ahead of time and serves tokens over a Unix socket, with metrics and an
//! optional HTTP listener) and the proxy (a local reverse proxy that puts a valid bearer token
//! on every request it forwards, handling a 401 once).
//!
//! Programs that never call tokenwarden (coding assistants in tmux, MCP clients, editor
//! plugins) get a token that is never expired, never raced and renewed after an early
//! revocation, through either.
//!
//! # Layout
//! - [`daemon`]: the agent. Its wire protocol and its clients are the library's
//!   `tokenwarden::agent`, shared with the CLI.
//! - [`proxy`]: the reverse proxy.

pub mod daemon;
pub mod proxy;
