//! Fuzz target `redaction`: see `tokenwarden::fuzzing::redaction` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::redaction(data));
