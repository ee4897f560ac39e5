//! Fuzz target `callback_query`: see `tokenwarden::fuzzing::callback_query` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::callback_query(data));
