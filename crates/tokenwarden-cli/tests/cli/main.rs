//! The `tokenwarden` binary's one integration-test binary: each module drives the real binary in
//! a temporary TOKENWARDEN_HOME (see `util`).

mod util;

#[path = "../../../tokenwarden/tests/it/pg.rs"]
mod pg;

mod demo;
mod diagnostics;
mod diagnostics_canary;
mod diagnostics_events;
mod fleet;
mod json_contract;
mod login;
mod login_device;
mod login_logout;
mod login_store;
mod login_util;
mod mock_server;
mod profile;
mod sessions;
mod sessions_kill;
mod terminal;
