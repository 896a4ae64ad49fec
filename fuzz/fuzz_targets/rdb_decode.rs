#![no_main]
// The RDB decoder on arbitrary bytes (whole files, fed in two pieces) and
// as a DUMP payload: errors are fine, panics and runaway allocation are not.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = sluice::rdb::Limits::default();
    let mut d = sluice::rdb::Decoder::new(limits);
    let half = data.len() / 2;
    d.feed(&data[..half]);
    while let Ok(Some(_)) = d.next_item() {}
    d.feed(&data[half..]);
    d.finish_input();
    while let Ok(Some(_)) = d.next_item() {}
    let _ = sluice::rdb::restore_payload(data);
});
