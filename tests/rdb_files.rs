//! The decoder against real files: redis-server 7.0.15 and Valkey 8.0.1
//! dumps of one dataset (compared with alltypes.expected.json), and Redis's
//! own test assets (old encodings; corrupt ones must be rejected).

use sluice::rdb::{decode_all, Checksum, Item, Limits, LoadedEntry};
use sluice::store::set::Member;
use sluice::store::stream::StreamId;
use sluice::store::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Option<Vec<u8>> {
    match std::fs::read(testdata(name)) {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("{name}: {e}");
            }
            eprintln!("skipping: {name}: {e}");
            None
        }
    }
}

// ---- a tiny JSON reader (serde_json is not a dependency; this test only
// needs objects, arrays, strings, numbers and null) ----

#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<String, J>),
    Bool(bool),
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn val(&mut self) -> J {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b'}' {
                        self.i += 1;
                        return J::Obj(m);
                    }
                    let J::Str(k) = self.val() else { panic!("key") };
                    self.ws();
                    assert_eq!(self.s[self.i], b':');
                    self.i += 1;
                    let v = self.val();
                    m.insert(k, v);
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b']' {
                        self.i += 1;
                        return J::Arr(a);
                    }
                    a.push(self.val());
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return J::Str(out),
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            match e {
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                b'u' => {
                                    let h =
                                        std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                    self.i += 4;
                                    out.push(
                                        char::from_u32(u32::from_str_radix(h, 16).unwrap())
                                            .unwrap(),
                                    );
                                }
                                other => out.push(other as char),
                            }
                        }
                        _ => out.push(c as char),
                    }
                }
            }
            b'n' => {
                self.i += 4;
                J::Null
            }
            b't' => {
                self.i += 4;
                J::Bool(true)
            }
            b'f' => {
                self.i += 5;
                J::Bool(false)
            }
            _ => {
                let st = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                J::Num(
                    std::str::from_utf8(&self.s[st..self.i])
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
            }
        }
    }
}

fn b64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn s(j: &J) -> &str {
    match j {
        J::Str(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

/// Checks one loaded entry against its expected JSON.
fn check_entry(e: &LoadedEntry, want: &J) {
    let J::Obj(w) = want else { panic!() };
    let name = String::from_utf8_lossy(&e.key).into_owned();
    assert_eq!(e.value.type_name(), s(&w["type"]), "{name}");
    let exp = match &w["expire_at_ms"] {
        J::Null => None,
        J::Num(n) => Some(*n as u64),
        _ => panic!(),
    };
    assert_eq!(e.expire_ms, exp, "{name}");
    let v = &w["value"];
    match &e.value {
        Value::Int(_) | Value::Inline(_) | Value::Emb(_) | Value::Raw(_) => {
            let got = e.value.with_string_bytes(|b| b.to_vec()).unwrap();
            assert_eq!(got, b64(s(v)), "{name}");
        }
        Value::List(l) => {
            let J::Arr(a) = v else { panic!() };
            let got: Vec<Vec<u8>> = l.iter().map(|x| x.to_vec()).collect();
            let want: Vec<Vec<u8>> = a.iter().map(|x| b64(s(x))).collect();
            assert_eq!(got, want, "{name}");
        }
        Value::Set(set) => {
            let J::Arr(a) = v else { panic!() };
            let mut got: Vec<Vec<u8>> = set.iter().map(Member::to_vec).collect();
            let mut want: Vec<Vec<u8>> = a.iter().map(|x| b64(s(x))).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name}");
        }
        Value::Hash(h) => {
            let J::Obj(m) = v else { panic!() };
            let mut got: Vec<(Vec<u8>, Vec<u8>)> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            let mut want: Vec<(Vec<u8>, Vec<u8>)> =
                m.iter().map(|(f, v)| (b64(f), b64(s(v)))).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name}");
        }
        Value::ZSet(z) => {
            let J::Arr(a) = v else { panic!() };
            let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(sc, m)| (m.to_vec(), sc)).collect();
            let want: Vec<(Vec<u8>, f64)> = a
                .iter()
                .map(|p| {
                    let J::Arr(p) = p else { panic!() };
                    let sc = match s(&p[1]) {
                        "inf" => f64::INFINITY,
                        "-inf" => f64::NEG_INFINITY,
                        t => t.parse().unwrap(),
                    };
                    (b64(s(&p[0])), sc)
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
        Value::Stream(st) => {
            let J::Obj(m) = v else { panic!() };
            let J::Arr(entries) = &m["entries"] else {
                panic!()
            };
            let mut got = Vec::new();
            st.range(StreamId::MIN, StreamId::MAX, false, |id, fields| {
                let flat: Vec<Vec<u8>> = fields
                    .iter()
                    .flat_map(|(f, v)| [f.to_vec(), v.to_vec()])
                    .collect();
                got.push((format!("{}-{}", id.ms, id.seq), flat));
                true
            });
            let want: Vec<(String, Vec<Vec<u8>>)> = entries
                .iter()
                .map(|e| {
                    let J::Arr(e) = e else { panic!() };
                    let J::Arr(fv) = &e[1] else { panic!() };
                    (s(&e[0]).to_string(), fv.iter().map(|x| b64(s(x))).collect())
                })
                .collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(st.length as usize, want.len(), "{name}");
            let J::Arr(groups) = &m["groups"] else {
                panic!()
            };
            assert_eq!(st.group_count(), groups.len(), "{name}");
            for g in groups {
                let J::Obj(g) = g else { panic!() };
                let grp = st.group(s(&g["name"]).as_bytes()).expect("group");
                let last = format!("{}-{}", grp.last_id.ms, grp.last_id.seq);
                assert_eq!(last, s(&g["last-delivered-id"]));
                assert_eq!(J::Num(grp.pel.len() as f64), g["pending"]);
                assert_eq!(J::Num(grp.consumers.len() as f64), g["consumers"]);
            }
        }
    }
}

fn check_alltypes(file: &str, version: u16) {
    let Some(bytes) = read(file) else { return };
    let Some(json) = read("alltypes.expected.json") else {
        return;
    };
    let expected = P { s: &json, i: 0 }.val();
    let J::Obj(dbs) = expected else { panic!() };
    let items = decode_all(&bytes, Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut keys: BTreeMap<(u64, Vec<u8>), &LoadedEntry> = BTreeMap::new();
    let mut aux = Vec::new();
    for item in &items {
        match item {
            Item::Entry(e) => {
                assert!(keys.insert((e.db, e.key.to_vec()), e).is_none());
            }
            Item::Aux { key, .. } => aux.push(String::from_utf8_lossy(key).into_owned()),
            Item::End { checksum } => assert!(matches!(checksum, Checksum::Verified(_))),
            _ => {}
        }
    }
    assert!(
        aux.iter().any(|k| k == "redis-ver" || k == "valkey-ver"),
        "{aux:?}"
    );
    let mut n = 0;
    for (db, entries) in &dbs {
        let J::Obj(entries) = entries else { panic!() };
        for (k64, want) in entries {
            let key = b64(k64);
            let e = keys
                .get(&(db.parse().unwrap(), key.clone()))
                .unwrap_or_else(|| panic!("{file}: missing {}", String::from_utf8_lossy(&key)));
            check_entry(e, want);
            n += 1;
        }
    }
    assert_eq!(n, keys.len(), "{file}: extra keys");
    let _ = version;
}

#[test]
fn redis_7_0_alltypes_matches_expected() {
    check_alltypes("redis-7.0.15-alltypes.rdb", 10);
}

#[test]
fn valkey_8_0_alltypes_matches_expected() {
    check_alltypes("valkey-8.0.1-alltypes.rdb", 11);
}

#[test]
fn redis_assets_load_or_are_rejected() {
    let dir = testdata("redis-assets");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return eprintln!("skipping: {}", dir.display());
    };
    let mut seen = 0;
    for ent in rd {
        let path = ent.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let r = decode_all(&bytes, Limits::default());
        if name.starts_with("corrupt_") {
            let e = r.expect_err(&name);
            println!("{name}: rejected at offset {}: {}", e.offset, e.reason);
        } else {
            let items = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            let keys = items.iter().filter(|i| matches!(i, Item::Entry(_))).count();
            println!("{name}: {keys} keys");
            assert!(keys > 0 || name == "scriptbackup.rdb", "{name}");
        }
        seen += 1;
    }
    assert!(seen >= 8);
}

#[test]
fn check_rdb_binary_reports_summary_and_errors() {
    let bin = env!("CARGO_BIN_EXE_sluice-check-rdb");
    let good = testdata("redis-7.0.15-alltypes.rdb");
    if !good.exists() {
        return eprintln!("skipping: {} missing", good.display());
    }
    let out = std::process::Command::new(bin).arg(&good).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("RDB version 10"), "{text}");
    assert!(text.contains("AUX FIELD redis-ver = '7.0.15'"), "{text}");
    assert!(text.contains("Checksum OK"), "{text}");
    assert!(text.contains("[info] 26 keys read"), "{text}");
    assert!(text.contains("[info] 2 expires"), "{text}");
    assert!(
        text.contains("db 0: 23 keys (hash=3 list=3 set=4 stream=2 string=8 zset=3)"),
        "{text}"
    );

    let bad = testdata("redis-assets/corrupt_empty_keys.rdb");
    let out = std::process::Command::new(bin).arg(&bad).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[offset 99] empty set"), "{text}");

    let mut damaged = std::fs::read(&good).unwrap();
    let n = damaged.len();
    damaged[n - 3] ^= 1;
    let path = std::env::temp_dir().join(format!("sluice-check-{}.rdb", std::process::id()));
    std::fs::write(&path, &damaged).unwrap();
    let out = std::process::Command::new(bin).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("checksum"), "{text}");
    let _ = std::fs::remove_file(&path);
}

/// Redis's tests/integration/rdb.tcl "RDB encoding loading test": the
/// expected `csvdump` of encodings.rdb (v4: zipmap, ziplist, intset, LZF).
#[test]
fn encodings_rdb_matches_redis_test_suite() {
    let Some(bytes) = read("redis-assets/encodings.rdb") else {
        return;
    };
    let items = decode_all(&bytes, Limits::default()).unwrap();
    let mut lines = Vec::new();
    for item in &items {
        let Item::Entry(e) = item else { continue };
        let mut vals: Vec<String> = Vec::new();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match &e.value {
            Value::List(l) => vals.extend(l.iter().map(|x| text(&x.to_vec()))),
            Value::Set(s) => {
                vals.extend(s.iter().map(|m| text(&m.to_vec())));
                vals.sort();
            }
            Value::Hash(h) => {
                let mut pairs: Vec<(String, String)> =
                    h.iter().map(|(f, v)| (text(f), text(v))).collect();
                pairs.sort();
                vals.extend(pairs.into_iter().flat_map(|(f, v)| [f, v]));
            }
            Value::ZSet(z) => {
                for (score, m) in z.iter() {
                    vals.push(text(m));
                    vals.push(format!("{}", score as i64));
                }
            }
            v => vals.push(v.with_string_bytes(text).unwrap()),
        }
        let mut line = format!(
            "\"{}\",\"{}\",\"{}\",",
            e.db,
            text(&e.key),
            e.value.type_name()
        );
        line.push_str(&vals.iter().map(|v| format!("\"{v}\",")).collect::<String>());
        if e.value.is_string() {
            line.pop();
        }
        lines.push(line);
    }
    lines.sort();
    let compressible = format!("\"0\",\"compressible\",\"string\",\"{}\"", "a".repeat(137));
    let want = [
        compressible.as_str(),
        r#""0","hash","hash","a","1","aa","10","aaa","100","b","2","bb","20","bbb","200","c","3","cc","30","ccc","300","ddd","400","eee","5000000000","#,
        r#""0","hash_zipped","hash","a","1","b","2","c","3","#,
        r#""0","list","list","1","2","3","a","b","c","100000","6000000000","1","2","3","a","b","c","100000","6000000000","1","2","3","a","b","c","100000","6000000000","#,
        r#""0","list_zipped","list","1","2","3","a","b","c","100000","6000000000","#,
        r#""0","number","string","10""#,
        r#""0","set","set","1","100000","2","3","6000000000","a","b","c","#,
        r#""0","set_zipped_1","set","1","2","3","4","#,
        r#""0","set_zipped_2","set","100000","200000","300000","400000","#,
        r#""0","set_zipped_3","set","1000000000","2000000000","3000000000","4000000000","5000000000","6000000000","#,
        r#""0","string","string","Hello World""#,
        r#""0","zset","zset","a","1","b","2","c","3","aa","10","bb","20","cc","30","aaa","100","bbb","200","ccc","300","aaaa","1000","cccc","123456789","bbbb","5000000000","#,
        r#""0","zset_zipped","zset","a","1","b","2","c","3","#,
    ];
    assert_eq!(lines, want);
}
