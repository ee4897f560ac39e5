//! mockauth: an embedded, strict OAuth 2.0 / OpenID Connect authorization server with fault
//! injection, for testing OAuth clients over real HTTP on loopback.
//!
//! It implements the authorization code grant with PKCE (S256 only), refresh with rotation
//! and reuse detection, client credentials, the device grant, revocation, introspection, ID
//! tokens (ES256, published at `/jwks`), userinfo, a bearer-protected resource
//! (`/v1/messages`, and `/v1/stream` with server-sent events), RFC 8414 / OIDC discovery and a
//! paste-back page for logins without a listener. Provider look-alike options (a bare 403 for a
//! dead token, required API headers, strict RFC 8707, a User-Agent filter, Microsoft-like
//! tenant paths, discovery layouts) are plain [`Config`] fields. Faults (statuses, broken or
//! raw bodies, extra headers, latency, clock skew) are data in a [`FaultPlan`], applied where
//! responses leave the server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mockauth::{Config, Endpoint, FaultPlan, FaultSpec, Server};
//! let server = Server::start(Config { auto_approve: true, ..Config::default() }).await?;
//! println!("issuer: {}", server.issuer());
//! server.set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503).count(1)))?;
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `config` — [`Config`], [`ClientConfig`], the TOML file schema.
//! - `server` — the router, [`run`], [`Server`], [`ServerHandle`].
//! - `sites` — which external paths land on which route, and the issuer each answer names.
//! - `boundary` — middleware every response passes: request ids, `Date`, faults, counters.
//! - `faults` — [`FaultPlan`], its validation and the fault responses.
//! - `endpoints/*` — one module per protocol concern.
//! - `store` — codes, token families, device codes; `state` — what handlers share.
//! - `oauth` — errors, parameters, client authentication; `redirect` — redirect-URI rules.
//! - `keys` — the ID-token key; `html` — the pages; `admin` — the admin API;
//!   `stats` — [`Stats`]; `clock` — the one clock.

#![deny(missing_docs)]

mod admin;
mod boundary;
mod clock;
mod config;
mod endpoints;
mod faults;
mod html;
mod keys;
mod oauth;
mod redirect;
mod server;
mod sites;
mod state;
mod stats;
mod store;

pub use config::{
    ClientAuthMethod, ClientConfig, CodeReuseRevocation, Config, ConfigError, DEVICE_CODE_GRANT,
    DeadTokenStatus, GrantType, ISSUER_PLACEHOLDER, InvalidChoice, InvalidRequiredHeader,
    MetadataLocation, PASTE_CALLBACK_PATH, RequiredHeader, TokenRequestFormat, TokenResponseFormat,
};
pub use endpoints::device::DeviceDecisionError;
pub use faults::{Endpoint, FaultBody, FaultPlan, FaultSpec, HUGE_BODY_BYTES, InvalidFaultPlan};
pub use keys::KeyError;
pub use server::{ServeError, Server, ServerHandle, StartError, run};
pub use sites::MULTI_TENANT_NAMES;
pub use state::ReceivedTokenRequest;
pub use stats::{ResourceRequests, Revocations, Stats, TokenRequests, TokensIssued};
