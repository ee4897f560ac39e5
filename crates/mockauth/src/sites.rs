//! Where a request lands. The server answers under its issuer's path, and, with a `tenant_id`,
//! under Microsoft-like tenant paths; each external path maps to one canonical route (`/token`,
//! `/authorize`…) and a [`Site`]: the issuer and endpoint URLs that the answer names.
//!
//! [`rewrite`] runs before routing: it rewrites the request to its canonical route and attaches
//! the [`Site`], so handlers, faults and counters only ever see canonical paths. A path that
//! lands nowhere gets the JSON 404.
//!
//! | external path | canonical route | site |
//! |---|---|---|
//! | `{issuer path}/…` | `/…` | the issuer |
//! | `/.well-known/oauth-authorization-server{issuer path}` | RFC 8414 metadata | the issuer (RFC 8414 §3.1; not with `metadata_location = "appended"`) |
//! | `{issuer path}/{tenant}/v2.0/.well-known/openid-configuration` | OIDC discovery | the tenant |
//! | `{issuer path}/{tenant}/oauth2/v2.0/authorize`, `/token`, `/devicecode` | `/authorize`, `/token`, `/device_authorization` | the tenant |
//! | `{issuer path}/{tenant}/discovery/v2.0/keys`, `/oidc/userinfo` | `/jwks`, `/userinfo` | the tenant |

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;

use crate::boundary;
use crate::config::{Config, MetadataLocation};
use crate::state::AppState;

/// The RFC 8414 metadata route.
pub(crate) const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
/// The OIDC discovery route.
pub(crate) const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";

/// The tenant names whose discovery document names the `{tenantid}` template as its issuer.
pub const MULTI_TENANT_NAMES: [&str; 3] = ["common", "organizations", "consumers"];

/// Routes under `/{tenant}` and their canonical route (Microsoft identity platform v2.0).
const TENANT_ROUTES: [(&str, &str); 6] = [
    ("/v2.0/.well-known/openid-configuration", OIDC_DISCOVERY),
    ("/oauth2/v2.0/authorize", "/authorize"),
    ("/oauth2/v2.0/token", "/token"),
    ("/oauth2/v2.0/devicecode", "/device_authorization"),
    ("/discovery/v2.0/keys", "/jwks"),
    ("/oidc/userinfo", "/userinfo"),
];

/// The issuer and endpoint URLs a request's answer names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    /// The issuer the discovery document names (for a multi-tenant path, the template
    /// `{base}/{tenantid}/v2.0`, literally).
    pub issuer: String,
    /// The `iss` of the ID tokens issued here.
    pub token_issuer: String,
    /// The `tid` claim of those ID tokens (tenant sites).
    pub tid: Option<String>,
    /// Where the endpoints are: `base + canonical route` (the issuer), or the tenant routes
    /// under `base` (`{issuer}/{tenant}`).
    base: String,
    tenant: bool,
}

impl Site {
    /// The issuer's own site.
    fn root(issuer: &str) -> Site {
        Site {
            issuer: issuer.to_owned(),
            token_issuer: issuer.to_owned(),
            tid: None,
            base: issuer.to_owned(),
            tenant: false,
        }
    }

    fn tenant(issuer: &str, name: &str, tenant_id: &str) -> Site {
        let shown = if MULTI_TENANT_NAMES.contains(&name) {
            "{tenantid}"
        } else {
            tenant_id
        };
        Site {
            issuer: format!("{issuer}/{shown}/v2.0"),
            token_issuer: format!("{issuer}/{tenant_id}/v2.0"),
            tid: Some(tenant_id.to_owned()),
            base: format!("{issuer}/{name}"),
            tenant: true,
        }
    }

    /// The absolute URL of a canonical route at this site; `None` where the site has no such
    /// endpoint (tenant sites have no revocation or introspection endpoint).
    pub fn url(&self, route: &str) -> Option<String> {
        if !self.tenant {
            return Some(format!("{}{route}", self.base));
        }
        TENANT_ROUTES
            .iter()
            .find(|(_, canonical)| *canonical == route)
            .map(|(external, _)| format!("{}{external}", self.base))
    }

    /// The RFC 9207 `iss` to put in authorization responses: the issuer's own site does;
    /// tenant sites, like the provider they imitate, do not.
    pub fn response_iss(&self) -> Option<&str> {
        (!self.tenant).then_some(self.issuer.as_str())
    }

    /// Whether this is a tenant site.
    pub fn is_tenant(&self) -> bool {
        self.tenant
    }
}

/// Every external path the server answers.
#[derive(Debug)]
pub(crate) struct Mounts {
    root: Arc<Site>,
    /// The issuer's path: empty or `/a/b`.
    prefix: String,
    metadata: MetadataLocation,
    tenants: Vec<(String, Arc<Site>)>,
}

impl Mounts {
    pub fn new(config: &Config, issuer: &str) -> Mounts {
        let prefix = url::Url::parse(issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let tenants = match &config.tenant_id {
            None => Vec::new(),
            Some(tid) => MULTI_TENANT_NAMES
                .iter()
                .copied()
                .chain([tid.as_str()])
                .map(|name| (name.to_owned(), Arc::new(Site::tenant(issuer, name, tid))))
                .collect(),
        };
        Mounts {
            root: Arc::new(Site::root(issuer)),
            prefix,
            metadata: config.metadata_location,
            tenants,
        }
    }

    /// The absolute path (no scheme or host) of a canonical route of the issuer's own site,
    /// for links and form actions in pages.
    pub fn path(&self, route: &str) -> String {
        format!("{}{route}", self.prefix)
    }

    /// The canonical route and site of an external path; `None`: nothing is served there.
    pub fn land(&self, path: &str) -> Option<(String, Arc<Site>)> {
        let inserted = format!("{OAUTH_METADATA}{}", self.prefix);
        if !self.prefix.is_empty() && path == inserted {
            return (self.metadata == MetadataLocation::Inserted)
                .then(|| (OAUTH_METADATA.to_owned(), self.root.clone()));
        }
        let rest = path.strip_prefix(self.prefix.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        if let Some(landing) = self.land_tenant(rest) {
            return Some(landing);
        }
        if rest == OAUTH_METADATA
            && !self.prefix.is_empty()
            && self.metadata == MetadataLocation::Inserted
        {
            return None;
        }
        let route = if rest.is_empty() { "/" } else { rest };
        Some((route.to_owned(), self.root.clone()))
    }

    fn land_tenant(&self, rest: &str) -> Option<(String, Arc<Site>)> {
        let (name, tail) = rest.strip_prefix('/')?.split_once('/')?;
        let (_, site) = self.tenants.iter().find(|(n, _)| n == name)?;
        let tail = format!("/{tail}");
        TENANT_ROUTES
            .iter()
            .find(|(external, _)| *external == tail)
            .map(|(_, canonical)| ((*canonical).to_owned(), site.clone()))
    }
}

/// Rewrites a request to its canonical route and attaches its [`Site`]; 404 when it lands
/// nowhere.
pub(crate) async fn rewrite(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some((route, site)) = st.mounts.land(req.uri().path()) else {
        return boundary::not_found(req).await;
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{route}?{q}"),
        None => route,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    let Ok(uri) = Uri::from_parts(parts) else {
        return boundary::not_found(req).await;
    };
    let mut req = req;
    *req.uri_mut() = uri;
    req.extensions_mut().insert(site);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    fn mounts(issuer: &str, f: impl FnOnce(&mut Config)) -> Mounts {
        let mut c = Config::default();
        f(&mut c);
        Mounts::new(&c, issuer)
    }

    fn route(m: &Mounts, path: &str) -> Option<String> {
        m.land(path).map(|(r, _)| r)
    }

    #[test]
    fn without_a_path_everything_is_at_the_root() {
        let m = mounts("http://127.0.0.1:1", |_| {});
        assert_eq!(route(&m, "/token").as_deref(), Some("/token"));
        assert_eq!(route(&m, OAUTH_METADATA).as_deref(), Some(OAUTH_METADATA));
        assert_eq!(route(&m, "/x/token").as_deref(), Some("/x/token"));
    }

    #[test]
    fn an_issuer_path_prefixes_everything() {
        let m = mounts("http://127.0.0.1:1/realms/t", |_| {});
        assert_eq!(route(&m, "/realms/t/token").as_deref(), Some("/token"));
        assert_eq!(route(&m, "/token"), None);
        assert_eq!(route(&m, "/realms/tx/token"), None);
        assert_eq!(
            route(&m, "/.well-known/oauth-authorization-server/realms/t").as_deref(),
            Some(OAUTH_METADATA),
            "RFC 8414 §3.1"
        );
        assert_eq!(
            route(&m, "/realms/t/.well-known/oauth-authorization-server"),
            None
        );
        assert_eq!(
            route(&m, "/realms/t/.well-known/openid-configuration").as_deref(),
            Some(OIDC_DISCOVERY)
        );
    }

    #[test]
    fn appended_metadata_is_only_appended() {
        let m = mounts("http://127.0.0.1:1/realms/t", |c| {
            c.metadata_location = MetadataLocation::Appended;
        });
        assert_eq!(
            route(&m, "/realms/t/.well-known/oauth-authorization-server").as_deref(),
            Some(OAUTH_METADATA)
        );
        assert_eq!(
            route(&m, "/.well-known/oauth-authorization-server/realms/t"),
            None
        );
    }

    #[test]
    fn tenant_paths() {
        let m = mounts("http://127.0.0.1:1", |c| c.tenant_id = Some(GUID.into()));
        let (r, site) = m.land("/common/oauth2/v2.0/token").expect("lands");
        assert_eq!(r, "/token");
        assert_eq!(site.issuer, "http://127.0.0.1:1/{tenantid}/v2.0");
        assert_eq!(site.token_issuer, format!("http://127.0.0.1:1/{GUID}/v2.0"));
        assert_eq!(
            site.url("/authorize").as_deref(),
            Some("http://127.0.0.1:1/common/oauth2/v2.0/authorize")
        );
        assert_eq!(site.url("/revoke"), None);
        assert_eq!(site.response_iss(), None);
        let (_, single) = m
            .land(&format!("/{GUID}/v2.0/.well-known/openid-configuration"))
            .expect("lands");
        assert_eq!(single.issuer, format!("http://127.0.0.1:1/{GUID}/v2.0"));
        assert_eq!(
            route(&m, "/other/oauth2/v2.0/token").as_deref(),
            Some("/other/oauth2/v2.0/token")
        );
        let plain = mounts("http://127.0.0.1:1", |_| {});
        assert_eq!(
            route(&plain, "/common/oauth2/v2.0/token").as_deref(),
            Some("/common/oauth2/v2.0/token"),
            "no tenants without a tenant_id (the router answers 404)"
        );
    }
}
