#![no_main]
//! `tessera_server::fuzzing::feed_cursor` under libFuzzer (see ../README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_server::fuzzing::feed_cursor(data);
});
