//! Which issuer a discovery document, a login callback (RFC 9207 `iss`) and an ID token must
//! name: [`IssuerRule`], decided once when the document is accepted.
//!
//! Most issuers are compared exactly (a trailing slash aside). Microsoft Entra's multi-tenant
//! authorities are not: the discovery document of `…/common/v2.0` (also `organizations`,
//! `consumers`) names the template `…/{tenantid}/v2.0`, and each ID token names its own tenant
//! in `tid` and in `iss`. Microsoft's guidance is to substitute the token's `tid` into the
//! template and compare (<https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer>).
//! A domain-name tenant (`…/contoso.onmicrosoft.com/v2.0`) resolves to its GUID issuer, which is
//! then compared exactly; a GUID tenant is single-tenant and exact from the start.

use super::discovery::same_issuer;

/// The placeholder Entra's multi-tenant documents put in the issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The tenant of personal Microsoft accounts (what `consumers` signs in to).
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Who may sign in at a multi-tenant authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `common`: work, school and personal accounts.
    Common,
    /// `organizations`: work and school accounts only (never the consumer tenant).
    Organizations,
    /// `consumers`: personal accounts only (the consumer tenant).
    Consumers,
}

impl Audience {
    /// The tenant segment naming it.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Common => "common",
            Audience::Organizations => "organizations",
            Audience::Consumers => "consumers",
        }
    }

    fn parse(segment: &str) -> Option<Audience> {
        [
            Audience::Common,
            Audience::Organizations,
            Audience::Consumers,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(segment))
    }

    /// Whether a token of tenant `tid` may come from this authority.
    fn admits(self, tid: &str) -> bool {
        let consumer = tid.eq_ignore_ascii_case(CONSUMER_TENANT);
        match self {
            Audience::Common => true,
            Audience::Organizations => !consumer,
            Audience::Consumers => consumer,
        }
    }
}

/// How the issuer named by callbacks and ID tokens is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    /// Exactly this issuer (a trailing slash aside).
    Exact(String),
    /// A multi-tenant authority: the issuer is `template` with `{tenantid}` replaced by the
    /// ID token's `tid`.
    Tenant {
        /// The template, e.g. `https://login.microsoftonline.com/{tenantid}/v2.0`.
        template: String,
        /// Who may sign in there.
        audience: Audience,
    },
}

impl IssuerRule {
    /// The rule for a document at `configured` that claims `claimed`, or `None` when the
    /// document must be refused (another issuer: the mix-up defence of RFC 8414 §3.3).
    pub fn accept(configured: &str, claimed: &str) -> Option<IssuerRule> {
        if same_issuer(configured, claimed) {
            return Some(IssuerRule::Exact(claimed.to_string()));
        }
        let (c, d) = (segments(configured)?, segments(claimed)?);
        if c.len() != d.len() || c.base != d.base {
            return None;
        }
        let differing: Vec<usize> = (0..c.parts.len())
            .filter(|&i| c.parts[i] != d.parts[i])
            .collect();
        let [i] = differing.as_slice() else {
            return None;
        };
        let (mine, theirs) = (c.parts[*i], d.parts[*i]);
        match Audience::parse(mine) {
            Some(audience) if theirs == TENANT_PLACEHOLDER => Some(IssuerRule::Tenant {
                template: claimed.to_string(),
                audience,
            }),
            // A domain-name tenant resolves to its GUID issuer: single-tenant from here on.
            None if mine.contains('.') && is_tenant_id(theirs) => {
                Some(IssuerRule::Exact(claimed.to_string()))
            }
            _ => None,
        }
    }

    /// The issuer as shown in messages (the template for a multi-tenant authority).
    pub fn shown(&self) -> &str {
        match self {
            IssuerRule::Exact(i) => i,
            IssuerRule::Tenant { template, .. } => template,
        }
    }

    /// Whether a callback's RFC 9207 `iss` may come from this issuer (for a multi-tenant
    /// authority: the template filled with some tenant id).
    pub fn admits(&self, iss: &str) -> bool {
        match self {
            IssuerRule::Exact(i) => same_issuer(i, iss),
            IssuerRule::Tenant { template, .. } => {
                let Some((before, after)) = template.split_once(TENANT_PLACEHOLDER) else {
                    return false;
                };
                iss.strip_prefix(before)
                    .and_then(|rest| rest.strip_suffix(after))
                    .is_some_and(is_tenant_id)
            }
        }
    }

    /// Checks an ID token's `iss` (and, for a multi-tenant authority, its `tid`): `Err` says
    /// what is wrong, in words.
    pub fn check_id_token(&self, iss: &str, tid: Option<&str>) -> Result<(), String> {
        match self {
            // OIDC Core §3.1.3.7: exactly the issuer of the discovery document.
            IssuerRule::Exact(i) if i == iss => Ok(()),
            IssuerRule::Exact(i) => Err(format!("its issuer is `{iss}`, not `{i}`")),
            IssuerRule::Tenant { template, audience } => {
                let Some(tid) = tid else {
                    return Err(format!(
                        "it has no `tid` claim, so its issuer `{iss}` cannot be checked against the template `{template}`"
                    ));
                };
                if !is_tenant_id(tid) {
                    return Err(format!("its `tid` claim `{tid}` is not a tenant id"));
                }
                let expected = template.replace(TENANT_PLACEHOLDER, tid);
                if !same_issuer(&expected, iss) {
                    return Err(format!(
                        "its issuer `{iss}` is not its tenant's: with tid `{tid}` it must be `{expected}` (a token of another tenant or another server)"
                    ));
                }
                if !audience.admits(tid) {
                    return Err(format!(
                        "it is from tenant `{tid}`, which `{}` does not sign in ({})",
                        audience.as_str(),
                        match audience {
                            Audience::Consumers => "only personal Microsoft accounts",
                            _ => "work and school accounts only",
                        }
                    ));
                }
                Ok(())
            }
        }
    }
}

/// A tenant id: a GUID (hex digits and dashes, 36 characters).
pub fn is_tenant_id(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

struct Split<'a> {
    base: &'a str,
    parts: Vec<&'a str>,
}

impl Split<'_> {
    fn len(&self) -> usize {
        self.parts.len()
    }
}

/// `scheme://authority` and the path segments of an issuer URL (no query or fragment).
fn segments(issuer: &str) -> Option<Split<'_>> {
    let trimmed = issuer.trim_end_matches('/');
    let after_scheme = trimmed.find("://")? + 3;
    let path_start = trimmed[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .unwrap_or(trimmed.len());
    if trimmed.contains(['?', '#']) {
        return None;
    }
    let base = &trimmed[..path_start];
    let parts = trimmed[path_start..]
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    Some(Split { base, parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

    #[test]
    fn exact_issuers_stay_exact() {
        let r = IssuerRule::accept("https://as.example.com", "https://as.example.com/");
        assert_eq!(r, Some(IssuerRule::Exact("https://as.example.com/".into())));
        assert_eq!(
            IssuerRule::accept("https://as.example.com", "https://evil.example.com"),
            None
        );
        // A GUID tenant is single-tenant: a template is not its issuer.
        let single = format!("https://login.microsoftonline.com/{GUID}/v2.0");
        assert_eq!(IssuerRule::accept(&single, TEMPLATE), None);
    }

    #[test]
    fn multi_tenant_authorities_accept_the_template() {
        for (tenant, audience) in [
            ("common", Audience::Common),
            ("organizations", Audience::Organizations),
            ("consumers", Audience::Consumers),
        ] {
            let configured = format!("https://login.microsoftonline.com/{tenant}/v2.0");
            assert_eq!(
                IssuerRule::accept(&configured, TEMPLATE),
                Some(IssuerRule::Tenant {
                    template: TEMPLATE.into(),
                    audience
                })
            );
        }
        // Only the tenant segment may differ, and only into the placeholder.
        assert_eq!(
            IssuerRule::accept(
                "https://login.microsoftonline.com/common/v2.0",
                "https://other.example.com/{tenantid}/v2.0"
            ),
            None
        );
        assert_eq!(
            IssuerRule::accept(
                "https://login.microsoftonline.com/common/v2.0",
                "https://login.microsoftonline.com/{tenantid}/v1.0"
            ),
            None
        );
    }

    #[test]
    fn a_domain_tenant_resolves_to_its_guid() {
        let claimed = format!("https://login.microsoftonline.com/{GUID}/v2.0");
        assert_eq!(
            IssuerRule::accept(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",
                &claimed
            ),
            Some(IssuerRule::Exact(claimed.clone()))
        );
        assert_eq!(
            IssuerRule::accept("https://login.microsoftonline.com/contoso/v2.0", &claimed),
            None,
            "a bare word is not a domain"
        );
    }

    #[test]
    fn id_tokens_are_checked_against_their_tid() {
        let rule = IssuerRule::Tenant {
            template: TEMPLATE.into(),
            audience: Audience::Common,
        };
        let iss = format!("https://login.microsoftonline.com/{GUID}/v2.0");
        assert_eq!(rule.check_id_token(&iss, Some(GUID)), Ok(()));
        let other = "00000000-0000-0000-0000-000000000001";
        let e = rule.check_id_token(&iss, Some(other)).unwrap_err();
        assert!(e.contains("is not its tenant's"), "{e}");
        assert!(
            rule.check_id_token(&iss, None)
                .unwrap_err()
                .contains("no `tid`")
        );
        assert!(rule.admits(&iss));
        assert!(!rule.admits("https://login.microsoftonline.com/x/y/v2.0"));
        let orgs = IssuerRule::Tenant {
            template: TEMPLATE.into(),
            audience: Audience::Organizations,
        };
        let consumer_iss = TEMPLATE.replace(TENANT_PLACEHOLDER, CONSUMER_TENANT);
        assert!(
            orgs.check_id_token(&consumer_iss, Some(CONSUMER_TENANT))
                .unwrap_err()
                .contains("work and school")
        );
    }
}
