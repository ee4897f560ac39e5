//! Fuzz target `discovery`: see `tokenwarden::fuzzing::discovery` for what it drives and what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenwarden::fuzzing::discovery(data));
