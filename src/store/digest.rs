//! DEBUG DIGEST and DEBUG DIGEST-VALUE, computed exactly as Redis 7.0's
//! debug.c does, so a sluice dataset and a redis-server dataset can be
//! compared by digest (replication and RDB tests rely on it).
//!
//! ```text
//!   final = 0^20
//!   for each non-empty db j:  mix(final, htonl(j))
//!     for each key k:         d = 0^20; mix(d, k); value(d); xor(final, d)
//!   value(d): mix(d, htonl(type)); then per type (ordered types mix each
//!     element, unordered ones xor a per-element digest); "!!expire!!" is
//!     xored in when the key has a TTL.
//!   xor(d, s) = d ^ sha1(s);  mix(d, s) = sha1(xor(d, s))
//! ```

use super::{Db, Value};

pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// debug.c `xorDigest`: order-independent "add".
pub fn xor(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// debug.c `mixDigest`: order-dependent "append".
pub fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = sha1(digest);
}

/// Redis's `OBJ_*` type codes, mixed in big-endian.
fn type_code(value: &Value) -> u32 {
    match value {
        Value::Int(_) | Value::Inline(_) | Value::Emb(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// debug.c `xorObjectDigest` for one value (DEBUG DIGEST-VALUE without the
/// key), with `has_ttl` adding the expire marker.
pub fn value_digest(digest: &mut Digest, value: &Value, has_ttl: bool) {
    mix(digest, &type_code(value).to_be_bytes());
    match value {
        Value::Int(n) => mix(digest, itoa::Buffer::new().format(*n).as_bytes()),
        Value::Inline(b) => mix(digest, b.as_bytes()),
        Value::Emb(b) => mix(digest, b),
        Value::Raw(b) => mix(digest, b),
        // Ordered: each element mixed in turn (ints as their decimal text).
        Value::List(list) => {
            for elem in list.iter() {
                mix(digest, &elem.to_vec());
            }
        }
        // Unordered: each field/value pair digested alone, then xored in.
        Value::Hash(hash) => {
            for (field, value) in hash.iter() {
                let mut pair = [0u8; 20];
                mix(&mut pair, field);
                mix(&mut pair, value);
                xor(digest, &pair);
            }
        }
        // Unordered: each member's SHA-1 xored in (intset members as text).
        Value::Set(set) => {
            for member in set.iter() {
                match member {
                    crate::store::set::Member::Int(n) => {
                        xor(digest, itoa::Buffer::new().format(n).as_bytes())
                    }
                    crate::store::set::Member::Bytes(b) => xor(digest, b),
                }
            }
        }
        // Unordered: member then score (`%.17g`, Redis 7.0) per element.
        Value::ZSet(zset) => {
            let mut text = Vec::new();
            for (score, member) in zset.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, member);
                text.clear();
                crate::num::fmt_g17(score, &mut text);
                mix(&mut element, &text);
                xor(digest, &element);
            }
        }
        // Ordered: each entry's `ms.seq`, then its fields and values.
        Value::Stream(stream) => {
            let (lo, hi) = (super::stream::StreamId::MIN, super::stream::StreamId::MAX);
            stream.range(lo, hi, false, |id, fields| {
                let text = format!("{}.{}", id.ms, id.seq);
                mix(digest, text.as_bytes());
                for (field, value) in fields {
                    field.with_bytes(|b| mix(digest, b));
                    value.with_bytes(|b| mix(digest, b));
                }
                true
            });
        }
    }
    if has_ttl {
        xor(digest, b"!!expire!!");
    }
}

/// Adds one database part (the keys of one stripe) to `db_digest`.
pub fn add_db_part(db_digest: &mut Digest, db: &Db) {
    for (key, entry) in &db.map {
        let mut d = [0u8; 20];
        mix(&mut d, key);
        value_digest(&mut d, &entry.value, entry.expire_ms != 0);
        // `xorDigest(final, digest, 20)`: the SHA-1 of the key's digest.
        xor(db_digest, &d);
    }
}

/// Folds one database's xor of key digests into the final digest, as
/// `computeDatasetDigest` does per non-empty db.
pub fn add_db(final_digest: &mut Digest, db_index: usize, keys: usize, db_digest: &Digest) {
    if keys == 0 {
        return;
    }
    mix(final_digest, &(db_index as u32).to_be_bytes());
    for (f, x) in final_digest.iter_mut().zip(db_digest) {
        *f ^= x;
    }
}

/// DEBUG DIGEST of whole databases (index = db number), as hex.
pub fn dbs_hex(dbs: &[Db]) -> String {
    let mut all = [0u8; 20];
    for (index, db) in dbs.iter().enumerate() {
        let mut part = [0u8; 20];
        add_db_part(&mut part, db);
        add_db(&mut all, index, db.map.len(), &part);
    }
    hex(&all)
}

/// Lowercase hex, as DEBUG DIGEST replies.
pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Entry;

    #[test]
    fn sha1_is_sha1() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn string_digest_is_order_independent_across_keys() {
        let mut a = Db::default();
        a.insert(b"x", Entry::new(Value::string(b"1"), 0));
        a.insert(b"y", Entry::new(Value::string(b"hello"), 5));
        let mut part = [0u8; 20];
        add_db_part(&mut part, &a);
        let mut b = Db::default();
        b.insert(b"y", Entry::new(Value::string(b"hello"), 5));
        b.insert(b"x", Entry::new(Value::string(b"1"), 0));
        let mut part_b = [0u8; 20];
        add_db_part(&mut part_b, &b);
        assert_eq!(part, part_b);
        // An int and the same text as a string digest alike, as in Redis.
        let mut d1 = [0u8; 20];
        value_digest(&mut d1, &Value::Int(12), false);
        let mut d2 = [0u8; 20];
        value_digest(&mut d2, &Value::string_no_int(b"12"), false);
        assert_eq!(d1, d2);
    }
}
