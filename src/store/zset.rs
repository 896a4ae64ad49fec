//! The zset value type and its Redis encodings (t_zset.c).
//!
//! Two encodings, as Redis 7.0 reports them in OBJECT ENCODING:
//! - `listpack`: one sorted `Vec` of (score, member), used while the zset has
//!   at most `zset-max-listpack-entries` entries of at most
//!   `zset-max-listpack-value` bytes. Lookups by member walk it, as Redis
//!   walks its listpack.
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

/// A zset value.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetValue {
    Small(Vec<(f64, Box<[u8]>)>),
    Big(Big),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Small(Vec::new())
    }
}

impl ZSetValue {
    /// An empty zset in the encoding Redis 7.0's `zaddGenericCommand`
    /// creates: `skiplist` if listpacks are disabled or the first member is
    /// too long, else `listpack`.
    pub fn for_first_member(member_len: usize, entries_max: i64, value_max: i64) -> Self {
        if entries_max == 0 || exceeds(member_len, value_max) {
            ZSetValue::Big(Big::default())
        } else {
            ZSetValue::Small(Vec::new())
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Small(_) => "listpack",
            ZSetValue::Big(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Small(v) => v.len(),
            ZSetValue::Big(b) => b.scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Small(v) => v.iter().find(|(_, m)| &**m == member).map(|(s, _)| *s),
            ZSetValue::Big(b) => b.scores.get(member).copied(),
        }
    }

    /// Before adding a new member of `member_len` bytes: converts to
    /// `skiplist` if the zset would then hold more than `entries_max`
    /// entries or the member is longer than `value_max` (`zsetAdd`). The
    /// member that triggers it is inserted into the skiplist, so it keeps a
    /// `-0` score.
    pub fn convert_before_insert(&mut self, member_len: usize, entries_max: i64, value_max: i64) {
        if let ZSetValue::Small(v) = self {
            if exceeds(v.len().saturating_add(1), entries_max) || exceeds(member_len, value_max) {
                let mut big = Big::default();
                for (score, member) in v.drain(..) {
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
            ZSetValue::Small(v) => {
                // A listpack stores the score as text: -0 reads back as 0.
                let score = if score == 0.0 { 0.0 } else { score };
                let at = v.partition_point(|(s, m)| {
                    cmp_score(*s, score).then_with(|| (**m).cmp(member)) == Ordering::Less
                });
                v.insert(at, (score, member.into()));
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

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Small(v) => {
                let at = v.iter().position(|(_, m)| &**m == member)?;
                Some(v.remove(at).0)
            }
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
            ZSetValue::Small(v) => v.iter().position(|(_, m)| &**m == member),
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
            ZSetValue::Small(v) => Box::new(v.iter().map(|(s, m)| (*s, &**m))),
            ZSetValue::Big(b) => Box::new(b.order.iter().map(|n| (n.score, &*n.member))),
        }
    }

    /// Entries with a score of at least `min` (ignoring the member), in
    /// ascending order; the skiplist seeks instead of walking.
    pub fn iter_from_score(&self, min: f64) -> Box<dyn Iterator<Item = (f64, &[u8])> + '_> {
        match self {
            ZSetValue::Small(v) => {
                let at = v.partition_point(|(s, _)| *s < min);
                Box::new(
                    v.get(at..)
                        .unwrap_or_default()
                        .iter()
                        .map(|(s, m)| (*s, &**m)),
                )
            }
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
            ZSetValue::Small(v) => {
                let at = v.partition_point(|(s, _)| *s <= max);
                Box::new(
                    v.get(..at)
                        .unwrap_or_default()
                        .iter()
                        .rev()
                        .map(|(s, m)| (*s, &**m)),
                )
            }
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
        let mut big = ZSetValue::Big(Big::default());
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
}
