//! Values and their Redis encodings.
//!
//! Strings mirror Redis's three encodings so OBJECT ENCODING answers as Redis
//! does: `int` (an i64), `embstr` (created at most 44 bytes long and never
//! modified in place) and `raw` (everything else, growable for APPEND).

/// Strings up to this length are created `embstr` (object.c
/// `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_MAX: usize = 44;

use super::hash::HashValue;
use super::list::ListValue;
use super::set::SetValue;
use super::stream::Stream;
use super::zset::ZSetValue;

/// Longest string stored in a [`Value::Inline`]; with a length byte it is
/// the 16 bytes `Value` can hold beside its tag without growing.
pub const INLINE_MAX: usize = 15;

/// The bytes of a [`Value::Inline`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Inline {
    len: u8,
    bytes: [u8; INLINE_MAX],
}

impl Inline {
    fn new(bytes: &[u8]) -> Inline {
        let mut inline = Inline {
            len: bytes.len() as u8,
            bytes: [0; INLINE_MAX],
        };
        inline.bytes[..bytes.len()].copy_from_slice(bytes);
        inline
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Inline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A key's value, 24 bytes. Collections are boxed (a hash's or zset's
/// 16-byte value needs no box) so every `Entry` stays small.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    /// An `embstr` of at most [`INLINE_MAX`] bytes, stored in the value
    /// itself (no allocation, as Redis's embstr shares the robj's).
    Inline(Inline),
    Emb(Box<[u8]>),
    Raw(Vec<u8>),
    Hash(HashValue),
    List(Box<ListValue>),
    Set(Box<SetValue>),
    ZSet(ZSetValue),
    Stream(Box<Stream>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);
const _: () = assert!(std::mem::size_of::<Entry>() == 40);

impl Value {
    /// A string value encoded as Redis's `tryObjectEncoding` would: an
    /// integer when the bytes are a canonical i64 of at most 20 chars.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = crate::num::parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::string_no_int(bytes)
    }

    /// A string that stays a string (object.c `createStringObject`).
    pub fn string_no_int(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE_MAX {
            Value::Inline(Inline::new(bytes))
        } else if bytes.len() <= EMBSTR_MAX {
            Value::Emb(bytes.into())
        } else {
            Value::Raw(bytes.to_vec())
        }
    }

    /// The `TYPE` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Inline(_) | Value::Emb(_) | Value::Raw(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline(_) | Value::Emb(_) => "embstr",
            Value::Raw(_) => "raw",
            Value::Hash(v) => v.encoding(),
            Value::List(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// The value's first heap allocation, if any (for prefetching).
    pub fn heap_ptr(&self) -> Option<*const u8> {
        match self {
            Value::Int(_) | Value::Inline(_) => None,
            Value::Emb(b) => Some(b.as_ptr()),
            Value::Raw(b) => Some(b.as_ptr()),
            Value::Hash(h) => Some(h.heap_ptr()),
            Value::List(l) => Some((&**l as *const ListValue).cast()),
            Value::Set(s) => Some((&**s as *const SetValue).cast()),
            Value::ZSet(z) => Some(z.heap_ptr()),
            Value::Stream(s) => Some((&**s as *const Stream).cast()),
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Inline(_) | Value::Emb(_) | Value::Raw(_)
        )
    }

    /// Calls `f` with the bytes of a string value (an `int` formatted on
    /// the stack, no allocation), or returns `None` for other types.
    pub fn with_string_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            Value::Int(n) => Some(f(itoa::Buffer::new().format(*n).as_bytes())),
            Value::Inline(b) => Some(f(b.as_bytes())),
            Value::Emb(b) => Some(f(b)),
            Value::Raw(b) => Some(f(b)),
            _ => None,
        }
    }

    /// About how many allocations freeing it takes (lazyfree.c
    /// `lazyfreeGetFreeEffort`): list nodes, elements of hash-table sets,
    /// hashes and skiplist sorted sets, a stream's nodes plus its groups
    /// times the first group's pending entries; 1 for the rest.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::List(l) => l.node_count(),
            Value::Set(s) if matches!(**s, super::set::SetValue::Hashtable(_)) => s.len(),
            Value::ZSet(z) if matches!(z, super::zset::ZSetValue::Big(_)) => z.len(),
            Value::Hash(h) if matches!(h, HashValue::Table(_)) => h.len(),
            Value::Stream(s) => {
                let pel = s.groups().next().map_or(0, |(_, g)| g.pel.len());
                let groups = s.groups().count();
                s.node_count()
                    .saturating_add(groups.saturating_mul(pel.saturating_add(1)))
            }
            _ => 1,
        }
    }

    /// Length in bytes of a string value.
    pub fn string_len(&self) -> Option<usize> {
        match self {
            Value::Int(n) => Some(itoa::Buffer::new().format(*n).len()),
            Value::Inline(b) => Some(b.as_bytes().len()),
            Value::Emb(b) => Some(b.len()),
            Value::Raw(b) => Some(b.len()),
            _ => None,
        }
    }

    /// Turns a string into its `raw` form for in-place edits (db.c
    /// `dbUnshareStringValue`) and returns the buffer.
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Value::Raw(_) => {}
            Value::Int(n) => *self = Value::Raw(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Value::Inline(b) => *self = Value::Raw(b.as_bytes().to_vec()),
            Value::Emb(b) => *self = Value::Raw(b.to_vec()),
            _ => return None,
        }
        match self {
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }
}

/// A key's value with its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix ms; 0 means none.
    pub expire_ms: u64,
    /// LRU clock (unix seconds) of the last access, for
    /// OBJECT IDLETIME.
    pub access_s: u32,
    /// LFU counter (logarithmic, evict.c `LFULogIncr`) and the minute
    /// clock of its last decay, for the LFU policies and OBJECT FREQ.
    pub freq: u8,
    pub freq_minutes: u16,
    /// Changed since the running snapshot's cut, in a stripe the snapshot
    /// has yet to save: the save skips it (the stripe keeps its cut value,
    /// see `snapshot`). Set only by the store's write paths, cleared when
    /// the stripe is saved; in the padding, so free.
    pub(super) changed: bool,
}

/// A new key's LFU counter (evict.c `LFU_INIT_VAL`), so it is not evicted
/// before it had a chance to be used.
pub const LFU_INIT_VAL: u8 = 5;

/// LFU tuning (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Clone, Copy, Debug)]
pub struct LfuParams {
    pub log_factor: u32,
    pub decay_minutes: u32,
}

impl Entry {
    pub fn new(value: Value, expire_ms: u64) -> Entry {
        Entry {
            value,
            expire_ms,
            access_s: 0,
            freq: LFU_INIT_VAL,
            freq_minutes: 0,
            changed: false,
        }
    }

    /// The counter after decay (evict.c `LFUDecrAndReturn`).
    pub fn lfu_decayed(&self, now_minutes: u16, params: LfuParams) -> u8 {
        let elapsed = u32::from(now_minutes.wrapping_sub(self.freq_minutes));
        let periods = elapsed.checked_div(params.decay_minutes).unwrap_or(0);
        u32::from(self.freq).saturating_sub(periods) as u8
    }

    /// Records an access under an LFU policy (db.c `updateLFU`): decay,
    /// then a logarithmic increment with probability 1/((c-5)*factor+1).
    pub fn lfu_touch(&mut self, now_minutes: u16, params: LfuParams, random: f64) {
        let mut counter = self.lfu_decayed(now_minutes, params);
        if counter < 255 {
            let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
            if random < 1.0 / (base * f64::from(params.log_factor) + 1.0) {
                counter += 1;
            }
        }
        self.freq = counter;
        self.freq_minutes = now_minutes;
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        // db.c `keyIsExpired`: `now > when` (a key lives through its
        // expiry millisecond, as on a Redis master its replica must agree with).
        self.expire_ms != 0 && self.expire_ms < now_ms
    }
}
