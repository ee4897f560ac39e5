//! The `tokenwarden` binary's one integration-test binary: each module drives the real binary in
//! a temporary TOKENWARDEN_HOME (see `util`).

mod util;

mod browser_login;
mod demo;
mod diagnostics;
mod diagnostics_canary;
mod diagnostics_events;
mod git_helper;
mod json_contract;
mod json_other_programs;
mod kubectl;
mod login;
mod login_device;
mod login_logout;
mod login_store;
mod login_util;
mod mock_server;
mod other_programs;
mod profile;
mod providers;
mod readme;
mod sessions;
mod sessions_kill;
mod terminal;
