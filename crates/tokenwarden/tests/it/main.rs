//! The library's one integration-test binary. Each module tests one concern; `util` holds the
//! helpers (an in-process mockauth, profiles pointed at it, clients that never really wait).

mod pg;
mod util;

mod classify;
mod config;
mod config_secret;
mod correlation;
mod delivery;
mod diagnose;
mod diagnose_faults;
mod discovery;
mod discovery_store;
mod events;
mod exchange;
mod fleet;
mod jwks_store;
mod lint;
mod login;
mod login_checks;
mod login_device;
mod parser;
mod providers;
mod providers_config;
mod providers_doctor;
mod quirks;
mod refresh_answers;
mod retry;
mod session;
mod session_load;
mod session_races;
mod session_revoking;
mod store;
mod warden;
