//! Fuzz target `store_row`: see `tokenwarden::fuzzing::store_row` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::store_row(data));
