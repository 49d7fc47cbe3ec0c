#![no_main]
//! `tessera_server::fuzzing::cookie_header` under libFuzzer (see ../README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_server::fuzzing::cookie_header(data);
});
