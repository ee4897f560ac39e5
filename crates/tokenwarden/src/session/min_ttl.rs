//! A `min_ttl` the provider cannot meet: when even a brand-new token would be inside `min_ttl`
//! plus the proactive window, refreshing cannot help, so the token is handed out with a
//! warning and refreshed once half its life has passed, never on every call.

use super::{Session, Token};
use std::time::Duration;

impl Session {
    /// The `min_ttl` tokens like `tokens` can meet. When even a brand-new one would be inside
    /// `min_ttl` + window (the provider grants less), refreshing cannot help: such a token is
    /// treated as due once half its life has passed (the usual window for short tokens).
    pub(super) fn attainable(
        &self,
        tokens: &crate::token::TokenSet,
        min_ttl: Duration,
    ) -> Duration {
        match tokens.lifetime() {
            Some(lifetime) if unattainable(lifetime, self.opts.refresh_skew, min_ttl) => {
                (lifetime / 2).saturating_sub(tokens.proactive_window(self.opts.refresh_skew))
            }
            _ => min_ttl,
        }
    }

    /// `token` with [`Token::warning`] set when its provider grants tokens too short for
    /// `min_ttl`.
    pub(super) fn note_unattainable(&self, token: Token, min_ttl: Duration) -> Token {
        let Some(lifetime) = token.lifetime() else {
            return token;
        };
        if !unattainable(lifetime, self.opts.refresh_skew, min_ttl) {
            return token;
        }
        let window = self.opts.refresh_skew.min(lifetime / 2);
        let left = token
            .expires_at()
            .and_then(|e| e.duration_since(self.clock.now()).ok())
            .unwrap_or_default();
        let warning = format!(
            "a token valid for at least {} was asked for, but the provider grants tokens of profile `{}` for only {}, too short for that plus the {} refresh window; using this one ({} left), refreshed once half its life has passed",
            secs(min_ttl),
            self.profile,
            secs(lifetime),
            secs(window),
            secs(left),
        );
        token.with_warning(Some(warning))
    }
}

/// True when tokens living `lifetime` cannot serve `min_ttl`: even a brand-new one would be
/// inside `min_ttl` plus the proactive window.
fn unattainable(lifetime: Duration, refresh_skew: Duration, min_ttl: Duration) -> bool {
    !lifetime.is_zero() && min_ttl.saturating_add(refresh_skew.min(lifetime / 2)) >= lifetime
}

/// `d` in whole seconds, as people read durations (`1h 30s`).
fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
