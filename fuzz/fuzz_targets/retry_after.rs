//! Fuzz target `retry_after`: see `tokenwarden::fuzzing::retry_after` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::retry_after(data));
