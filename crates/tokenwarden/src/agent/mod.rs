//! The client side of the agent, `tokenwarden agent`: a per-user daemon that keeps every
//! logged-in profile's token refreshed ahead of time and hands tokens out over a Unix socket.
//! The daemon itself is the `tokenwarden-agent` crate; this module is what it shares with
//! every client (rbw's habit: one protocol module for both sides).
//!
//! # Layout
//! - [`protocol`]: the versioned, newline-delimited JSON protocol.
//! - [`dirs`]: where the socket, the pidfile and the log live.
//! - [`client`]: one connection to the agent, and why it may be unusable ([`Unavailable`]).
//! - [`source`]: [`AgentSource`], tokens from the agent or, without one, from a session of
//!   this process.

pub mod client;
pub mod dirs;
pub mod protocol;
pub mod source;

pub use client::{AgentClient, Unavailable, enabled_by_env};
pub use dirs::AgentPaths;
pub use source::AgentSource;
