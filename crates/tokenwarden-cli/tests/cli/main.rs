//! The `tokenwarden` binary's one integration-test binary: each module drives the real binary in
//! a temporary TOKENWARDEN_HOME (see `util`).

mod util;

#[path = "../../../tokenwarden/tests/it/pg.rs"]
mod pg;

mod agent;
mod agent_listeners;
mod bad_answers;
mod browser_login;
mod demo;
mod diagnostics;
mod diagnostics_canary;
mod diagnostics_events;
mod fleet;
mod git_helper;
mod hardening_breaker;
mod hardening_busy;
mod hardening_store;
mod json_contract;
mod json_other_programs;
mod keyring;
mod kubectl;
mod login;
mod login_device;
mod login_logout;
mod login_paste;
mod login_store;
mod login_util;
mod mock_server;
mod other_programs;
mod profile;
mod providers;
mod proxy;
mod proxy_cases;
mod readme;
mod sessions;
mod sessions_kill;
mod terminal;
