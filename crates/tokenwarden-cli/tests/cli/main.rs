//! The `tokenwarden` binary's one integration-test binary: each module drives the real binary in
//! a temporary TOKENWARDEN_HOME (see `util`).

mod util;

mod profile;
