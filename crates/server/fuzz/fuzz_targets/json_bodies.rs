#![no_main]
//! `tessera_server::fuzzing::json_bodies` under libFuzzer (see ../README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera_server::fuzzing::json_bodies(data);
});
