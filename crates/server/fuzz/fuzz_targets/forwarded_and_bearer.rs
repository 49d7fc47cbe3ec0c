#![no_main]
//! `tessera_server::fuzzing::forwarded_and_bearer` under libFuzzer (see ../README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_server::fuzzing::forwarded_and_bearer(data);
});
