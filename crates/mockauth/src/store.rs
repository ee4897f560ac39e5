//! The store of everything the server issued: pending consents, authorization codes, token
//! families with their access and refresh tokens, and device authorizations.
//!
//! A *family* is one login (one code or device approval, or one client-credentials grant):
//! every access and refresh token descending from it points at it, so revoking the family
//! (code reuse, refresh-token reuse, revocation of a refresh token) kills them all at once.
//! The store is plain data behind one `Mutex` in the state; every method takes `now` from the
//! caller, which takes it from the one clock.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};

/// Identifies a token family.
pub(crate) type FamilyId = u64;

/// A fresh opaque credential: `prefix` + 32 random bytes, base64url.
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Splits a `scope` parameter (RFC 6749 §3.3) into distinct tokens, in order.
pub(crate) fn parse_scope(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in s.split(' ').filter(|t| !t.is_empty()) {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    out
}

pub(crate) fn join_scope(scope: &[String]) -> String {
    scope.join(" ")
}

/// One login and everything issued from it.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub client_id: String,
    pub scope: Vec<String>,
    /// The RFC 8707 resources the login was authorized for (strict servers only).
    pub resources: Vec<String>,
    pub nonce: Option<String>,
    pub auth_time: SystemTime,
    pub revoked: bool,
}

/// An authorization request waiting on the consent page.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub grant: CodeGrant,
    pub state: Option<String>,
    /// The RFC 9207 `iss` of the site the request came to, if it sends one.
    pub iss: Option<String>,
    pub expires_at: SystemTime,
}

/// What an authorization (approved) grants, carried by its code.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    /// The redirect URI the code goes to.
    pub redirect_uri: String,
    /// Whether the request carried `redirect_uri` (then `/token` must repeat it exactly).
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub scope: Vec<String>,
    pub nonce: Option<String>,
    /// The RFC 8707 resources requested (strict servers only).
    pub resources: Vec<String>,
}

/// An authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub grant: CodeGrant,
    pub auth_time: SystemTime,
    pub expires_at: SystemTime,
    /// Set on first successful redemption: the family it created.
    pub redeemed: Option<FamilyId>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub family: FamilyId,
    pub client_id: String,
    pub scope: Vec<String>,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RefreshState {
    Active,
    /// Replaced by `successor` at `at`.
    Rotated {
        successor: String,
        at: SystemTime,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub family: FamilyId,
    pub client_id: String,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
    pub state: RefreshState,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// Tokens were handed out.
    Consumed,
}

#[derive(Debug, Clone)]
pub(crate) struct DeviceRecord {
    pub client_id: String,
    pub scope: Vec<String>,
    pub expires_at: SystemTime,
    pub interval: Duration,
    pub last_poll: Option<SystemTime>,
    pub status: DeviceStatus,
    pub decided_at: Option<SystemTime>,
}

/// Why an access token is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccessProblem {
    Unknown,
    Expired,
    Revoked,
}

impl AccessProblem {
    pub fn describe(self) -> &'static str {
        match self {
            AccessProblem::Unknown => "the access token is unknown",
            AccessProblem::Expired => "the access token expired",
            AccessProblem::Revoked => "the access token was revoked",
        }
    }
}

/// Everything issued, keyed by the credential string.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub pending: HashMap<String, Pending>,
    pub codes: HashMap<String, Code>,
    pub families: HashMap<FamilyId, Family>,
    pub access: HashMap<String, AccessRecord>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub devices: HashMap<String, DeviceRecord>,
    /// Normalized user code → device code.
    pub user_codes: HashMap<String, String>,
    next_family: FamilyId,
    inserts: u64,
}

/// Characters of user codes: no vowels, no look-alikes (RFC 8628 §6.1).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Upper-cases and drops everything but the alphabet, so `wdjb-mjht` finds `WDJB-MJHT`.
pub(crate) fn normalize_user_code(s: &str) -> String {
    s.chars()
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_ascii() && USER_CODE_ALPHABET.contains(&(*c as u8)))
        .collect()
}

impl Store {
    fn tick(&mut self, now: SystemTime) {
        self.inserts += 1;
        if self.inserts.is_multiple_of(1024) {
            self.prune(now);
        }
    }

    /// Forgets what expired more than an hour ago (used codes stay an hour for reuse detection).
    fn prune(&mut self, now: SystemTime) {
        let keep = |t: SystemTime| t + Duration::from_secs(3600) > now;
        self.pending.retain(|_, p| keep(p.expires_at));
        self.codes.retain(|_, c| keep(c.expires_at));
        self.access.retain(|_, a| keep(a.expires_at));
        self.refresh.retain(|_, r| keep(r.expires_at));
        let before = self.devices.len();
        self.devices.retain(|_, d| keep(d.expires_at));
        if self.devices.len() != before {
            let live: std::collections::HashSet<&String> = self.devices.keys().collect();
            self.user_codes.retain(|_, dc| live.contains(dc));
        }
    }

    pub fn insert_pending(&mut self, p: Pending, now: SystemTime) -> String {
        self.tick(now);
        let id = random_token("consent_");
        self.pending.insert(id.clone(), p);
        id
    }

    /// Takes a pending consent once; `None` when unknown or expired.
    pub fn take_pending(&mut self, id: &str, now: SystemTime) -> Option<Pending> {
        let p = self.pending.remove(id)?;
        (now < p.expires_at).then_some(p)
    }

    pub fn insert_code(&mut self, grant: CodeGrant, ttl: Duration, now: SystemTime) -> String {
        self.tick(now);
        let code = random_token("mac_");
        self.codes.insert(
            code.clone(),
            Code {
                grant,
                auth_time: now,
                expires_at: now + ttl,
                redeemed: None,
            },
        );
        code
    }

    pub fn new_family(
        &mut self,
        client_id: &str,
        scope: Vec<String>,
        nonce: Option<String>,
        now: SystemTime,
    ) -> FamilyId {
        self.new_family_for(client_id, scope, nonce, Vec::new(), now)
    }

    /// A family bound to RFC 8707 resources.
    pub fn new_family_for(
        &mut self,
        client_id: &str,
        scope: Vec<String>,
        nonce: Option<String>,
        resources: Vec<String>,
        now: SystemTime,
    ) -> FamilyId {
        self.next_family += 1;
        let id = self.next_family;
        self.families.insert(
            id,
            Family {
                client_id: client_id.to_owned(),
                scope,
                resources,
                nonce,
                auth_time: now,
                revoked: false,
            },
        );
        id
    }

    pub fn issue_access(
        &mut self,
        family: FamilyId,
        scope: Vec<String>,
        ttl: Duration,
        now: SystemTime,
    ) -> String {
        self.tick(now);
        let token = random_token("mat_");
        let client_id = self
            .families
            .get(&family)
            .map(|f| f.client_id.clone())
            .unwrap_or_default();
        self.access.insert(
            token.clone(),
            AccessRecord {
                family,
                client_id,
                scope,
                issued_at: now,
                expires_at: now + ttl,
                revoked: false,
            },
        );
        token
    }

    pub fn issue_refresh(&mut self, family: FamilyId, ttl: Duration, now: SystemTime) -> String {
        self.tick(now);
        let token = random_token("mrt_");
        let client_id = self
            .families
            .get(&family)
            .map(|f| f.client_id.clone())
            .unwrap_or_default();
        self.refresh.insert(
            token.clone(),
            RefreshRecord {
                family,
                client_id,
                issued_at: now,
                expires_at: now + ttl,
                state: RefreshState::Active,
                revoked: false,
            },
        );
        token
    }

    pub fn family_revoked(&self, family: FamilyId) -> bool {
        self.families.get(&family).is_none_or(|f| f.revoked)
    }

    /// Revokes a family: every access and refresh token from that login. Returns whether it
    /// was live.
    pub fn revoke_family(&mut self, family: FamilyId) -> bool {
        match self.families.get_mut(&family) {
            Some(f) if !f.revoked => {
                f.revoked = true;
                true
            }
            _ => false,
        }
    }

    /// Revokes every access token of a family; its refresh tokens keep working. Returns how
    /// many were live.
    pub fn revoke_family_access(&mut self, family: FamilyId, now: SystemTime) -> usize {
        let mut n = 0;
        for a in self.access.values_mut().filter(|a| a.family == family) {
            if !a.revoked && now < a.expires_at {
                n += 1;
            }
            a.revoked = true;
        }
        n
    }

    /// The record of a usable access token, or why it is not usable.
    pub fn check_access(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<&AccessRecord, AccessProblem> {
        let rec = self.access.get(token).ok_or(AccessProblem::Unknown)?;
        if rec.revoked || self.family_revoked(rec.family) {
            Err(AccessProblem::Revoked)
        } else if now >= rec.expires_at {
            Err(AccessProblem::Expired)
        } else {
            Ok(rec)
        }
    }

    /// Whether a refresh token is live (known, not revoked, not expired, not rotated out).
    pub fn refresh_live(&self, token: &str, now: SystemTime) -> Option<&RefreshRecord> {
        let rec = self.refresh.get(token)?;
        let live = !rec.revoked
            && !self.family_revoked(rec.family)
            && now < rec.expires_at
            && rec.state == RefreshState::Active;
        live.then_some(rec)
    }

    /// Revokes every access token now; refresh tokens keep working. Returns how many were live.
    pub fn revoke_all_access(&mut self, now: SystemTime) -> usize {
        let live: Vec<String> = self
            .access
            .iter()
            .filter(|(_, a)| !a.revoked && now < a.expires_at)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &live {
            if let Some(a) = self.access.get_mut(k) {
                a.revoked = true;
            }
        }
        live.len()
    }

    /// Revokes every family: all access and refresh tokens. Returns how many were live.
    pub fn revoke_all_families(&mut self) -> usize {
        let mut n = 0;
        for f in self.families.values_mut() {
            if !f.revoked {
                f.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Creates a device authorization; returns (device_code, user_code).
    pub fn insert_device(
        &mut self,
        client_id: &str,
        scope: Vec<String>,
        ttl: Duration,
        interval: Duration,
        approved: bool,
        now: SystemTime,
    ) -> (String, String) {
        self.tick(now);
        let device_code = random_token("mdc_");
        let mut rng = rand::thread_rng();
        let user_code = loop {
            let chars: String = (0..8)
                .map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char)
                .collect();
            if !self.user_codes.contains_key(&chars) {
                break chars;
            }
        };
        let display = format!("{}-{}", &user_code[..4], &user_code[4..]);
        self.user_codes
            .insert(user_code.clone(), device_code.clone());
        self.devices.insert(
            device_code.clone(),
            DeviceRecord {
                client_id: client_id.to_owned(),
                scope,
                expires_at: now + ttl,
                interval,
                last_poll: None,
                status: if approved {
                    DeviceStatus::Approved
                } else {
                    DeviceStatus::Pending
                },
                decided_at: approved.then_some(now),
            },
        );
        (device_code, display)
    }

    /// Finds a device authorization by its user code (any case, dashes optional).
    pub fn device_by_user_code(&mut self, user_code: &str) -> Option<&mut DeviceRecord> {
        let dc = self.user_codes.get(&normalize_user_code(user_code))?;
        self.devices.get_mut(dc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing_dedupes_and_keeps_order() {
        assert_eq!(parse_scope(" b a  b "), vec!["b", "a"]);
        assert_eq!(
            join_scope(&parse_scope("openid offline_access")),
            "openid offline_access"
        );
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token("x_");
        assert!(a.len() >= 2 + 43, "{a}");
        assert_ne!(a, random_token("x_"));
    }

    #[test]
    fn revoking_a_family_kills_its_access_tokens() {
        let now = SystemTime::now();
        let mut s = Store::default();
        let f = s.new_family("cli", vec![], None, now);
        let at = s.issue_access(f, vec![], Duration::from_secs(60), now);
        let rt = s.issue_refresh(f, Duration::from_secs(60), now);
        assert!(s.check_access(&at, now).is_ok());
        assert!(s.refresh_live(&rt, now).is_some());
        assert!(s.revoke_family(f));
        assert_eq!(s.check_access(&at, now).err(), Some(AccessProblem::Revoked));
        assert!(s.refresh_live(&rt, now).is_none());
        assert_eq!(
            s.check_access(&at, now + Duration::from_secs(61)).err(),
            Some(AccessProblem::Revoked)
        );
    }

    #[test]
    fn user_codes_are_found_loosely() {
        let now = SystemTime::now();
        let mut s = Store::default();
        let (_, uc) = s.insert_device(
            "cli",
            vec![],
            Duration::from_secs(60),
            Duration::from_secs(5),
            false,
            now,
        );
        assert_eq!(uc.len(), 9);
        let loose = uc.to_lowercase().replace('-', " ");
        assert!(s.device_by_user_code(&loose).is_some());
        assert!(s.device_by_user_code("BBBB-BBBX").is_none() || uc == "BBBB-BBBX");
    }
}
