//! Fuzz target `token_response`: see `tokenwarden::fuzzing::token_response` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::token_response(data));
