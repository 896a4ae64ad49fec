//! `sluice-check-rdb FILE`: verifies an RDB file like redis-check-rdb
//! (deep checks: listpack/ziplist/intset integrity, duplicates, empty
//! collections, checksum) and prints a summary. Exits 1 with the byte
//! offset and reason on any problem, 2 on usage or read errors.

use sluice::rdb::{Checksum, Decoder, Item, Limits};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct DbStats {
    keys: u64,
    expires: u64,
    expired: u64,
    by_type: BTreeMap<&'static str, u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("Usage: {} <rdb-file-name>", args[0]);
        std::process::exit(2);
    }
    let path = &args[1];
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Cannot open {path}: {e}");
            std::process::exit(2);
        }
    };
    let total = file.metadata().map(|m| m.len()).ok();
    println!("[offset 0] Checking RDB file {path}");
    let mut decoder = match total {
        Some(t) => Decoder::with_total_len(Limits::default(), t),
        None => Decoder::new(Limits::default()),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut dbs: BTreeMap<u64, DbStats> = BTreeMap::new();
    let mut bytes_read = 0u64;
    let mut chunk = vec![0u8; 1 << 20];
    let mut eof = false;
    let mut end = None;
    let mut version_printed = false;
    let fail = |offset: u64, reason: &str, keys: u64| -> ! {
        println!("--- RDB ERROR DETECTED ---");
        println!("[offset {offset}] {reason}");
        println!("[info] {keys} keys read");
        std::process::exit(1);
    };
    loop {
        let item = match decoder.next_item() {
            Ok(i) => i,
            Err(e) => fail(e.offset, &e.reason, dbs.values().map(|d| d.keys).sum()),
        };
        if !version_printed {
            if let Some(v) = decoder.version() {
                println!("[offset 9] RDB version {v}");
                version_printed = true;
            }
        }
        let Some(item) = item else {
            if decoder.is_done() {
                break;
            }
            if eof {
                fail(
                    decoder.offset(),
                    "unexpected end of file",
                    dbs.values().map(|d| d.keys).sum(),
                );
            }
            match file.read(&mut chunk) {
                Ok(0) => {
                    eof = true;
                    decoder.finish_input();
                }
                Ok(n) => {
                    bytes_read += n as u64;
                    decoder.feed(&chunk[..n]);
                }
                Err(e) => {
                    eprintln!("Read error on {path}: {e}");
                    std::process::exit(2);
                }
            }
            continue;
        };
        let at = decoder.offset();
        match item {
            Item::Aux { key, value } => println!(
                "[offset {at}] AUX FIELD {} = '{}'",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&value)
            ),
            Item::SelectDb(db) => {
                println!("[offset {at}] Selecting DB ID {db}");
                dbs.entry(db).or_default();
            }
            Item::ResizeDb { keys, expires } => {
                println!("[offset {at}] RESIZEDB: {keys} keys, {expires} expires")
            }
            Item::FunctionSkipped { code_len } => {
                println!("[offset {at}] FUNCTION library of {code_len} bytes (skipped)")
            }
            Item::Entry(e) => {
                let d = dbs.entry(e.db).or_default();
                d.keys += 1;
                *d.by_type.entry(e.value.type_name()).or_default() += 1;
                if let Some(ms) = e.expire_ms {
                    d.expires += 1;
                    if ms < now_ms {
                        d.expired += 1;
                    }
                }
            }
            Item::End { checksum } => {
                end = Some(checksum);
                match checksum {
                    Checksum::Verified(crc) => println!("[offset {at}] Checksum OK ({crc:#018x})"),
                    Checksum::Skipped => println!("[offset {at}] Checksum skipped (none stored)"),
                }
            }
        }
    }
    let trailing = decoder.trailing().len() as u64
        + match file.read(&mut chunk) {
            Ok(n) => n as u64,
            Err(_) => 0,
        };
    let keys: u64 = dbs.values().map(|d| d.keys).sum();
    if trailing > 0 {
        fail(
            decoder.offset(),
            &format!("{trailing} bytes after EOF"),
            keys,
        );
    }
    if end.is_none() {
        fail(decoder.offset(), "no EOF opcode", keys);
    }
    println!("[offset {}] \\o/ RDB looks OK! \\o/", decoder.offset());
    for (db, d) in &dbs {
        let types: Vec<String> = d.by_type.iter().map(|(t, n)| format!("{t}={n}")).collect();
        println!(
            "[info] db {db}: {} keys ({}), {} expires, {} already expired",
            d.keys,
            types.join(" "),
            d.expires,
            d.expired
        );
    }
    println!("[info] {keys} keys read");
    println!(
        "[info] {} expires",
        dbs.values().map(|d| d.expires).sum::<u64>()
    );
    println!(
        "[info] {} already expired",
        dbs.values().map(|d| d.expired).sum::<u64>()
    );
    println!("[info] {bytes_read} bytes");
}
