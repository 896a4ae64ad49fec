//! The zset value type and its Redis encodings (t_zset.c).
//!
//! Two encodings, as Redis 7.0 reports them in OBJECT ENCODING:
//! - `listpack`: one contiguous byte buffer of sorted entries ([`Compact`]),
//!   used while the zset has at most `zset-max-listpack-entries` entries of
//!   at most `zset-max-listpack-value` bytes. Lookups by member walk it, as
//!   Redis walks its listpack.
//! - `skiplist`: a `BTreeSet` ordered by (score, member) plus a member to
//!   score map. Conversion is one-way (the command layer calls
//!   [`ZSetValue::convert_before_insert`]). Rank queries walk the ordered set
//!   (O(rank)): there is no order-statistic tree yet.
//!
//! Invariant: entries are ordered by score (compared with `<`/`==`, so `-0`
//! equals `0`) then member bytes, members are unique and no score is NaN.
//! Like a listpack, the compact form stores `-0` as `0`; the skiplist keeps
//! `-0` (ZSCORE then answers `-0`, as redis-server does).

use hashbrown::HashMap;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Compares two non-NaN scores as Redis does (`-0 == 0`).
fn cmp_score(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// A (score, member) pair ordered like a Redis skiplist node.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    score: f64,
    member: Box<[u8]>,
}

impl Eq for Node {}

impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Node {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_score(self.score, other.score).then_with(|| self.member.cmp(&other.member))
    }
}

/// The big (`skiplist`) form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Big {
    order: BTreeSet<Node>,
    scores: HashMap<Box<[u8]>, f64>,
}

/// The compact (`listpack`) form: entries in order, each encoded as
///
/// ```text
/// +------------------+-------------------+--------------+
/// | score: 1, 3, 5   | member length:    | member bytes |
/// | or 9 bytes       | LEB128, 1-5 bytes |              |
/// +------------------+-------------------+--------------+
/// ```
///
/// A score's first byte `t` is, like a listpack's integer encodings:
/// `t <= SMALL_MAX`: the integer `t - SMALL_BIAS`; [`TAG_I16`] / [`TAG_I32`]:
/// an integer in the next 2 / 4 bytes (LE); [`TAG_F64`]: an f64 in the next
/// 8 bytes (LE). `-0` never occurs here (stored as 0, as listpacks do).
///
/// after a `u32` LE entry count (absent, with the whole buffer, when
/// empty). One exactly sized allocation per zset, like Redis's listpack,
/// and a boxed slice keeps [`ZSetValue`] at 16 bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compact {
    buf: Box<[u8]>,
}

/// Bytes of the entry count in front of a non-empty [`Compact`].
const HEADER: usize = 4;

/// Most entries a [`Compact`] holds whatever `zset-max-listpack-entries`
/// says: its count is a u32.
const MAX_COMPACT: i64 = u32::MAX as i64;

const SMALL_MAX: u8 = 0xfb;
const SMALL_BIAS: i64 = 100;
const TAG_I16: u8 = 0xfc;
const TAG_I32: u8 = 0xfd;
const TAG_F64: u8 = 0xff;

/// Appends the compact encoding of `score`.
fn encode_score(score: f64, out: &mut Vec<u8>) {
    let int = score as i64;
    if int as f64 == score && !(score == 0.0 && score.is_sign_negative()) {
        if let Some(t) = int
            .checked_add(SMALL_BIAS)
            .and_then(|t| u8::try_from(t).ok())
        {
            if t <= SMALL_MAX {
                out.push(t);
                return;
            }
        }
        if let Ok(v) = i16::try_from(int) {
            out.push(TAG_I16);
            out.extend_from_slice(&v.to_le_bytes());
            return;
        }
        if let Ok(v) = i32::try_from(int) {
            out.push(TAG_I32);
            out.extend_from_slice(&v.to_le_bytes());
            return;
        }
    }
    out.push(TAG_F64);
    out.extend_from_slice(&score.to_le_bytes());
}

/// Decodes a score at `at`: the value and the bytes it took.
fn decode_score(buf: &[u8], at: usize) -> Option<(f64, usize)> {
    let tag = *buf.get(at)?;
    let body = |n: usize| buf.get(at + 1..at + 1 + n);
    match tag {
        t if t <= SMALL_MAX => Some(((i64::from(t) - SMALL_BIAS) as f64, 1)),
        TAG_I16 => Some((f64::from(i16::from_le_bytes(body(2)?.try_into().ok()?)), 3)),
        TAG_I32 => Some((f64::from(i32::from_le_bytes(body(4)?.try_into().ok()?)), 5)),
        TAG_F64 => Some((f64::from_le_bytes(body(8)?.try_into().ok()?), 9)),
        _ => None,
    }
}

/// One decoded entry and where the next one starts.
struct Decoded<'a> {
    score: f64,
    member: &'a [u8],
    end: usize,
}

impl Compact {
    /// Decodes the entry at `at`; `None` at the end (or, impossibly, on a
    /// malformed buffer, which then reads as truncated).
    fn decode(&self, at: usize) -> Option<Decoded<'_>> {
        let (score, score_len) = decode_score(&self.buf, at)?;
        let mut pos = at + score_len;
        let mut len = 0usize;
        for shift in (0..35).step_by(7) {
            let b = *self.buf.get(pos)?;
            pos += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        let member = self.buf.get(pos..pos.checked_add(len)?)?;
        Some(Decoded {
            score,
            member,
            end: pos + len,
        })
    }

    fn len(&self) -> usize {
        match self.buf.first_chunk::<HEADER>() {
            Some(header) => u32::from_le_bytes(*header) as usize,
            None => 0,
        }
    }

    /// Edits the buffer, then stores `len` in the header (or frees the
    /// buffer when 0).
    fn edit(&mut self, len: usize, edit: impl FnOnce(&mut Vec<u8>)) {
        super::edit_exact(&mut self.buf, |buf| {
            if buf.is_empty() {
                buf.extend_from_slice(&[0; HEADER]);
            }
            edit(buf);
            // Callers convert to a skiplist past MAX_COMPACT entries.
            let len = u32::try_from(len).expect("listpack zset too long");
            buf[..HEADER].copy_from_slice(&len.to_le_bytes());
            if len == 0 {
                buf.clear();
            }
        })
    }

    fn entries(&self) -> impl Iterator<Item = (usize, Decoded<'_>)> + '_ {
        let mut at = HEADER;
        std::iter::from_fn(move || {
            let d = self.decode(at)?;
            let start = at;
            at = d.end;
            Some((start, d))
        })
    }

    fn find(&self, member: &[u8]) -> Option<(usize, Decoded<'_>)> {
        self.entries().find(|(_, d)| d.member == member)
    }

    fn encode(score: f64, member: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 5 + member.len());
        encode_score(score, &mut out);
        let mut len = member.len();
        loop {
            let low = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(low);
                break;
            }
            out.push(low | 0x80);
        }
        out.extend_from_slice(member);
        out
    }

    /// Inserts a member known to be absent, in (score, member) order.
    fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .entries()
            .find(|(_, d)| {
                cmp_score(d.score, score).then_with(|| d.member.cmp(member)) == Ordering::Greater
            })
            .map_or(self.buf.len().max(HEADER), |(start, _)| start);
        let encoded = Compact::encode(score, member);
        self.edit(self.len() + 1, |buf| {
            buf.reserve_exact(encoded.len());
            super::replace_range(buf, at..at, &encoded);
        });
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (start, end, score) = self.find(member).map(|(s, d)| (s, d.end, d.score))?;
        self.edit(self.len() - 1, |buf| {
            buf.drain(start..end);
        });
        Some(score)
    }

    fn iter(&self) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        self.entries().map(|(_, d)| (d.score, d.member))
    }
}

/// A zset value.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetValue {
    Small(Compact),
    Big(Box<Big>),
}

const _: () = assert!(std::mem::size_of::<ZSetValue>() == 16);

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Small(Compact::default())
    }
}

impl ZSetValue {
    /// An empty zset in the encoding Redis 7.0's `zaddGenericCommand`
    /// creates: `skiplist` if listpacks are disabled or the first member is
    /// too long, else `listpack`.
    pub fn for_first_member(member_len: usize, entries_max: i64, value_max: i64) -> Self {
        if entries_max == 0 || exceeds(member_len, value_max) {
            ZSetValue::Big(Box::default())
        } else {
            ZSetValue::Small(Compact::default())
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Small(_) => "listpack",
            ZSetValue::Big(_) => "skiplist",
        }
    }

    /// The heap allocation behind the value (for prefetching).
    pub fn heap_ptr(&self) -> *const u8 {
        match self {
            ZSetValue::Small(c) => c.buf.as_ptr(),
            ZSetValue::Big(b) => (&**b as *const Big).cast(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Small(c) => c.len(),
            ZSetValue::Big(b) => b.scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Small(c) => c.find(member).map(|(_, d)| d.score),
            ZSetValue::Big(b) => b.scores.get(member).copied(),
        }
    }

    /// Before adding a new member of `member_len` bytes: converts to
    /// `skiplist` if the zset would then hold more than `entries_max`
    /// entries or the member is longer than `value_max` (`zsetAdd`). The
    /// member that triggers it is inserted into the skiplist, so it keeps a
    /// `-0` score.
    pub fn convert_before_insert(&mut self, member_len: usize, entries_max: i64, value_max: i64) {
        if let ZSetValue::Small(c) = self {
            if exceeds(c.len().saturating_add(1), entries_max.min(MAX_COMPACT))
                || exceeds(member_len, value_max)
            {
                let mut big = Box::<Big>::default();
                for (score, member) in c.iter() {
                    let member: Box<[u8]> = member.into();
                    big.scores.insert(member.clone(), score);
                    big.order.insert(Node { score, member });
                }
                *self = ZSetValue::Big(big);
            }
        }
    }

    /// Sets `member`'s score, adding it if missing. Returns true if added.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        debug_assert!(!score.is_nan());
        let added = self.remove(member).is_none();
        match self {
            ZSetValue::Small(c) => {
                // A listpack stores the score as text: -0 reads back as 0.
                c.insert(member, if score == 0.0 { 0.0 } else { score });
            }
            ZSetValue::Big(b) => {
                b.scores.insert(member.into(), score);
                b.order.insert(Node {
                    score,
                    member: member.into(),
                });
            }
        }
        added
    }

    /// Builds a zset from entries whose members the caller knows are
    /// distinct and whose scores are not NaN (an RDB load), in the
    /// encoding a series of [`ZSetValue::insert`] with these limits would
    /// reach, without a lookup per entry.
    pub fn from_distinct<M: AsRef<[u8]>>(
        mut entries: Vec<(f64, M)>,
        entries_max: i64,
        value_max: i64,
    ) -> ZSetValue {
        let small = !exceeds(entries.len(), entries_max.min(MAX_COMPACT))
            && entries
                .iter()
                .all(|(_, m)| !exceeds(m.as_ref().len(), value_max));
        if small {
            entries
                .sort_by(|a, b| cmp_score(a.0, b.0).then_with(|| a.1.as_ref().cmp(b.1.as_ref())));
            let mut c = Compact::default();
            c.edit(entries.len(), |buf| {
                for (score, member) in &entries {
                    let score = if *score == 0.0 { 0.0 } else { *score };
                    buf.extend_from_slice(&Compact::encode(score, member.as_ref()));
                }
            });
            ZSetValue::Small(c)
        } else {
            let mut big = Box::<Big>::default();
            big.scores.reserve(entries.len());
            for (score, member) in entries {
                let member: Box<[u8]> = member.as_ref().into();
                big.scores.insert(member.clone(), score);
                big.order.insert(Node { score, member });
            }
            ZSetValue::Big(big)
        }
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Small(c) => c.remove(member),
            ZSetValue::Big(b) => {
                let (member, score) = b.scores.remove_entry(member)?;
                b.order.remove(&Node { score, member });
                Some(score)
            }
        }
    }

    /// 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Small(c) => c.iter().position(|(_, m)| m == member),
            ZSetValue::Big(b) => {
                let score = *b.scores.get(member)?;
                let node = Node {
                    score,
                    member: member.into(),
                };
                Some(b.order.range(..node).count())
            }
        }
    }

    /// All entries in ascending order.
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = (f64, &[u8])> + '_> {
        match self {
            // Variable-length entries walk one way: collect for `rev`.
            ZSetValue::Small(c) => Box::new(c.iter().collect::<Vec<_>>().into_iter()),
            ZSetValue::Big(b) => Box::new(b.order.iter().map(|n| (n.score, &*n.member))),
        }
    }

    /// Entries with a score of at least `min` (ignoring the member), in
    /// ascending order; the skiplist seeks instead of walking.
    pub fn iter_from_score(&self, min: f64) -> Box<dyn Iterator<Item = (f64, &[u8])> + '_> {
        match self {
            ZSetValue::Small(c) => Box::new(c.iter().skip_while(move |(s, _)| *s < min)),
            ZSetValue::Big(b) => {
                let from = Node {
                    score: min,
                    member: Box::default(),
                };
                Box::new(b.order.range(from..).map(|n| (n.score, &*n.member)))
            }
        }
    }

    /// Entries with a score of at most `max`, in descending order.
    pub fn iter_rev_from_score(&self, max: f64) -> Box<dyn Iterator<Item = (f64, &[u8])> + '_> {
        match self {
            ZSetValue::Small(c) => Box::new(
                c.iter()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .skip_while(move |(s, _)| *s > max),
            ),
            ZSetValue::Big(b) => Box::new(
                b.order
                    .iter()
                    .rev()
                    .skip_while(move |n| n.score > max)
                    .map(|n| (n.score, &*n.member)),
            ),
        }
    }
}

/// Is `n` above a config limit (negative limits count as 0)?
fn exceeds(n: usize, max: i64) -> bool {
    u64::try_from(n).unwrap_or(u64::MAX) > u64::try_from(max).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_keep_order_and_ranks() {
        let mut small = ZSetValue::default();
        let mut big = ZSetValue::Big(Box::default());
        for z in [&mut small, &mut big] {
            assert!(z.insert(b"b", 2.0));
            assert!(z.insert(b"a", 2.0));
            assert!(z.insert(b"c", -1.0));
            assert!(!z.insert(b"c", 5.0));
            let all: Vec<_> = z.iter().map(|(s, m)| (s, m.to_vec())).collect();
            assert_eq!(
                all,
                vec![
                    (2.0, b"a".to_vec()),
                    (2.0, b"b".to_vec()),
                    (5.0, b"c".to_vec())
                ]
            );
            assert_eq!(z.rank(b"b"), Some(1));
            assert_eq!(z.iter_from_score(2.5).count(), 1);
            assert_eq!(z.iter_rev_from_score(2.0).count(), 2);
            assert_eq!(z.remove(b"a"), Some(2.0));
            assert_eq!(z.len(), 2);
        }
        small.convert_before_insert(1, 2, 64);
        assert_eq!(small.encoding(), "skiplist");
        assert_eq!(small, big);
    }

    #[test]
    fn compact_entries_round_trip_long_members() {
        let mut z = ZSetValue::default();
        let long = vec![b'x'; 300];
        z.insert(&long, 1.5);
        z.insert(b"", -0.0);
        z.insert(b"m", f64::INFINITY);
        let all: Vec<_> = z.iter().map(|(s, m)| (s, m.len())).collect();
        assert_eq!(all, vec![(0.0, 0), (1.5, 300), (f64::INFINITY, 1)]);
        assert_eq!(z.score(&long), Some(1.5));
        assert_eq!(z.remove(&long), Some(1.5));
        assert_eq!(z.len(), 2);
        assert_eq!(z.rank(b"m"), Some(1));
        assert_eq!(z.iter_rev_from_score(1.0).count(), 1);
    }

    #[test]
    fn compact_scores_round_trip() {
        for score in [
            0.0,
            1.0,
            -100.0,
            151.0,
            152.0,
            -101.0,
            32767.0,
            -32768.0,
            40000.0,
            -3e9,
            1.5,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2f64.powi(60),
            2f64.powi(63),
            -2f64.powi(63),
        ] {
            let mut buf = Vec::new();
            encode_score(score, &mut buf);
            assert_eq!(decode_score(&buf, 0), Some((score, buf.len())), "{score}");
        }
    }
}
