//! Fuzz target `jwt`: see `tokenwarden::fuzzing::jwt` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::jwt(data));
