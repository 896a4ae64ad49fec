#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::protocol::fuzz_parse(data));
