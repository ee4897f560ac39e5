//! The ways to obtain tokens: authorization code + PKCE over a loopback redirect, the same with
//! the code pasted back (no listener: [`paste`]), the device grant (RFC 8628), and client
//! credentials (through [`crate::http::TokenClient`]).

pub mod authcode;
pub mod device;
pub mod id_token;
pub mod loopback;
pub mod paste;
pub mod pkce;
