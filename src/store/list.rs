//! The list value type: a quicklist-like deque of packed nodes.
//!
//! Owns the layout of list elements in memory. Must not know about commands
//! or replies: callers read elements as [`Elem`] and write byte strings.
//!
//! Layout (mirrors Redis 7.0's quicklist of listpacks, which is why
//! OBJECT ENCODING always answers `quicklist`):
//!
//! ```text
//!   ListValue { nodes: VecDeque<Node>, len }
//!   Node { data: [entry][entry]..., count }
//!   entry = header payload backlen
//!     header 0x00..=0x7f  string of that many bytes (payload = bytes)
//!     header 0x81..=0x88  integer, payload = 1..8 little-endian bytes (sign-extended)
//!     header 0xff         long string: LEB128 length, then the bytes
//!     backlen             size of header+payload as a reverse varint (last
//!                         byte holds the low 7 bits, bit 7 = "more before"),
//!                         so entries can be walked from either end
//! ```
//!
//! Key invariants: no node is empty; `len` is the sum of node counts; a byte
//! string is stored as an integer exactly when it is a canonical i64
//! (`crate::num::parse_i64`), so equal elements have equal encodings.

use std::collections::VecDeque;

/// Which end of a list (Redis `LIST_HEAD` / `LIST_TAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// One element as stored: bytes, or an integer (formatted on reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element's bytes (integers formatted).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Str(b) => b.to_vec(),
            Elem::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }
}

/// An argument prepared for comparisons with elements (Redis
/// `listTypeEqual`): integer elements only equal canonical integers.
#[derive(Clone, Copy, Debug)]
pub struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    pub fn new(bytes: &'a [u8]) -> Needle<'a> {
        Needle {
            bytes,
            int: as_int(bytes),
        }
    }

    pub fn matches(&self, elem: Elem<'_>) -> bool {
        match elem {
            Elem::Str(b) => self.int.is_none() && b == self.bytes,
            Elem::Int(n) => self.int == Some(n),
        }
    }
}

/// The canonical integer `bytes` spells, if any.
fn as_int(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 20 {
        return None;
    }
    crate::num::parse_i64(bytes)
}

/// Node size limits from `list-max-listpack-size` (quicklist.c
/// `_quicklistNodeAllowInsert`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    bytes_max: usize,
    count_max: u32,
}

/// quicklist.c `SIZE_SAFETY_LIMIT`: cap for count-limited nodes.
const SIZE_SAFETY_LIMIT: usize = 8192;

impl Fill {
    /// Limits for a `list-max-listpack-size` value: negative means a byte
    /// size (-1 = 4 KiB ... -5 = 64 KiB), positive an entry count.
    pub fn from_config(fill: i64) -> Fill {
        if fill < 0 {
            let level = fill.unsigned_abs().min(5) as u32;
            Fill {
                bytes_max: 4096 << (level - 1),
                count_max: u32::from(u16::MAX),
            }
        } else {
            Fill {
                bytes_max: SIZE_SAFETY_LIMIT,
                count_max: u32::try_from(fill.min(32767)).unwrap_or(1),
            }
        }
    }

    fn allows(&self, node: &Node, add: usize) -> bool {
        node.count < self.count_max && node.data.len() + add <= self.bytes_max
    }
}

impl Default for Fill {
    fn default() -> Fill {
        Fill::from_config(-2)
    }
}

/// A packed run of entries.
#[derive(Clone, Default)]
struct Node {
    data: Vec<u8>,
    count: u32,
}

/// Number of 7-bit groups needed for `n`.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 128 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes needed to store an integer as a sign-extended little-endian value.
fn int_width(n: i64) -> usize {
    (1..8)
        .find(|&w| {
            let shift = 64 - 8 * w as u32;
            (n << shift) >> shift == n
        })
        .unwrap_or(8)
}

/// Appends the encoded entry for `bytes` to `out`.
fn encode(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    if let Some(n) = as_int(bytes) {
        let w = int_width(n);
        out.push(0x80 | w as u8);
        out.extend_from_slice(&n.to_le_bytes()[..w]);
    } else if bytes.len() < 128 {
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    } else {
        out.push(0xff);
        let mut n = bytes.len();
        while n >= 128 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(bytes);
    }
    let size = out.len() - start;
    // Reverse varint: highest group first, every byte but the first flagged.
    let groups = varint_len(size);
    for g in (0..groups).rev() {
        let bits = ((size >> (7 * g)) & 0x7f) as u8;
        out.push(if g + 1 == groups { bits } else { bits | 0x80 });
    }
}

/// Size of the encoding of `bytes`.
fn encoded_len(bytes: &[u8]) -> usize {
    let size = if let Some(n) = as_int(bytes) {
        1 + int_width(n)
    } else if bytes.len() < 128 {
        1 + bytes.len()
    } else {
        1 + varint_len(bytes.len()) + bytes.len()
    };
    size + varint_len(size)
}

impl Node {
    /// A node holding `bytes`, with room for `room` bytes in all.
    fn with_entry(bytes: &[u8], room: usize) -> Node {
        let mut data = Vec::with_capacity(encoded_len(bytes).max(room));
        encode(bytes, &mut data);
        Node { data, count: 1 }
    }

    /// The entry at byte offset `off` and the offset after it.
    fn entry_at(&self, off: usize) -> (Elem<'_>, usize) {
        let data = &self.data[off..];
        let tag = data[0];
        let (elem, size) = match tag {
            0x00..=0x7f => {
                let len = usize::from(tag);
                (Elem::Str(&data[1..1 + len]), 1 + len)
            }
            0x81..=0x88 => {
                let w = usize::from(tag & 0x0f);
                let mut raw = [0u8; 8];
                raw[..w].copy_from_slice(&data[1..1 + w]);
                let shift = 64 - 8 * w as u32;
                let n = (i64::from_le_bytes(raw) << shift) >> shift;
                (Elem::Int(n), 1 + w)
            }
            0xff => {
                let (mut len, mut shift, mut i) = (0usize, 0, 1);
                loop {
                    let b = data[i];
                    len |= usize::from(b & 0x7f) << shift;
                    i += 1;
                    if b & 0x80 == 0 {
                        break;
                    }
                    shift += 7;
                }
                (Elem::Str(&data[i..i + len]), i + len)
            }
            _ => unreachable!("bad list entry tag {tag:#x}"),
        };
        (elem, off + size + varint_len(size))
    }

    /// The start offset of the entry that ends at `end`.
    fn start_before(&self, end: usize) -> usize {
        let mut p = end - 1;
        let mut size = usize::from(self.data[p] & 0x7f);
        let mut shift = 7;
        while self.data[p] & 0x80 != 0 {
            p -= 1;
            size |= usize::from(self.data[p] & 0x7f) << shift;
            shift += 7;
        }
        p - size
    }

    /// Byte offset of entry `idx` (< count), walking from the nearer end.
    fn offset_of(&self, idx: u32) -> usize {
        if idx <= self.count / 2 {
            let mut off = 0;
            for _ in 0..idx {
                off = self.entry_at(off).1;
            }
            off
        } else {
            let mut off = self.data.len();
            for _ in idx..self.count {
                off = self.start_before(off);
            }
            off
        }
    }

    /// Inserts an encoded entry at byte offset `off`.
    /// Inserts `bytes` at byte offset `off`, growing by at least `room`
    /// bytes when the buffer is full (the rest of a multi-element push).
    fn insert_at(&mut self, off: usize, bytes: &[u8], room: usize) {
        let add = encoded_len(bytes);
        // Grow by at least 1/8 (about a jemalloc size class, where a
        // listpack reallocs on every insert): little slack in small lists,
        // still amortized O(1) copies per push.
        if self.data.capacity() - self.data.len() < add {
            self.data
                .reserve_exact(add.max(room).max(self.data.len() / 8));
        }
        if off == self.data.len() {
            encode(bytes, &mut self.data);
        } else {
            let mut enc = Vec::with_capacity(add);
            encode(bytes, &mut enc);
            super::replace_range(&mut self.data, off..off, &enc);
        }
        self.count += 1;
    }

    /// Splits off the entries from `idx` on into a new node.
    fn split_off(&mut self, idx: u32) -> Node {
        let off = self.offset_of(idx);
        let tail = self.data.split_off(off);
        let moved = self.count - idx;
        self.count = idx;
        self.data.shrink_to_fit();
        Node {
            data: tail,
            count: moved,
        }
    }

    fn iter(&self) -> impl Iterator<Item = Elem<'_>> {
        let mut off = 0;
        std::iter::from_fn(move || {
            (off < self.data.len()).then(|| {
                let (elem, next) = self.entry_at(off);
                off = next;
                elem
            })
        })
    }
}

/// The nodes of a list. A list of one node (most small lists) keeps it
/// inline, saving the deque's allocation; `One` with an empty node means
/// no nodes at all (an empty list, only ever transient).
#[derive(Clone)]
enum Nodes {
    One(Node),
    // Boxed so the enum, and so every small list, stays at one node's size.
    #[allow(clippy::box_collection)]
    Many(Box<VecDeque<Node>>),
}

impl Default for Nodes {
    fn default() -> Nodes {
        Nodes::One(Node::default())
    }
}

impl Nodes {
    fn len(&self) -> usize {
        match self {
            Nodes::One(node) => usize::from(node.count > 0),
            Nodes::Many(nodes) => nodes.len(),
        }
    }

    fn front_mut(&mut self) -> Option<&mut Node> {
        let n = self.len();
        (n > 0).then(|| &mut self[0])
    }

    fn back_mut(&mut self) -> Option<&mut Node> {
        let n = self.len();
        (n > 0).then(|| &mut self[n - 1])
    }

    /// The deque, converting a single node into one.
    fn many(&mut self) -> &mut VecDeque<Node> {
        if let Nodes::One(node) = self {
            let mut nodes = VecDeque::with_capacity(4);
            if node.count > 0 {
                nodes.push_back(std::mem::take(node));
            }
            *self = Nodes::Many(Box::new(nodes));
        }
        match self {
            Nodes::Many(nodes) => nodes,
            Nodes::One(_) => unreachable!("converted above"),
        }
    }

    /// Back to the inline form when one node is left.
    fn normalize(&mut self) {
        if let Nodes::Many(nodes) = self {
            if nodes.len() <= 1 {
                *self = Nodes::One(nodes.pop_front().unwrap_or_default());
            } else if nodes.capacity() > 8 && nodes.len() < nodes.capacity() / 4 {
                nodes.shrink_to_fit();
            }
        }
    }

    fn insert(&mut self, pos: usize, node: Node) {
        debug_assert!(node.count > 0);
        if self.len() == 0 {
            *self = Nodes::One(node);
        } else {
            self.many().insert(pos, node);
        }
    }

    fn push_front(&mut self, node: Node) {
        self.insert(0, node);
    }

    fn push_back(&mut self, node: Node) {
        let n = self.len();
        self.insert(n, node);
    }

    fn remove(&mut self, pos: usize) {
        match self {
            Nodes::One(_) => *self = Nodes::default(),
            Nodes::Many(nodes) => {
                nodes.remove(pos);
                self.normalize();
            }
        }
    }

    fn retain(&mut self, keep: impl FnMut(&Node) -> bool) {
        match self {
            Nodes::One(node) => {
                let mut keep = keep;
                if !keep(node) {
                    *self = Nodes::default();
                }
            }
            Nodes::Many(nodes) => {
                nodes.retain(keep);
                self.normalize();
            }
        }
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &Node> {
        (0..self.len()).map(move |i| &self[i])
    }
}

impl std::ops::Index<usize> for Nodes {
    type Output = Node;
    fn index(&self, i: usize) -> &Node {
        match self {
            Nodes::One(node) => {
                assert!(i == 0 && node.count > 0, "node {i} of a one-node list");
                node
            }
            Nodes::Many(nodes) => &nodes[i],
        }
    }
}

impl std::ops::IndexMut<usize> for Nodes {
    fn index_mut(&mut self, i: usize) -> &mut Node {
        match self {
            Nodes::One(node) => {
                assert!(i == 0 && node.count > 0, "node {i} of a one-node list");
                node
            }
            Nodes::Many(nodes) => &mut nodes[i],
        }
    }
}

/// A list value.
#[derive(Clone, Default)]
pub struct ListValue {
    nodes: Nodes,
    len: usize,
}

// A one-node list costs this struct (boxed in `Value::List`) plus its data.
const _: () = assert!(std::mem::size_of::<ListValue>() <= 40);

impl ListValue {
    /// Its nodes (allocations; Redis's quicklist length).
    pub fn node_count(&self) -> usize {
        match &self.nodes {
            Nodes::One(_) => 1,
            Nodes::Many(nodes) => nodes.len(),
        }
    }
}

impl PartialEq for ListValue {
    fn eq(&self, other: &ListValue) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for ListValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|e| String::from_utf8_lossy(&e.to_vec()).into_owned()),
            )
            .finish()
    }
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// The `OBJECT ENCODING` name: Redis 7.0 lists are always quicklists.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pushes `bytes` at `end`.
    pub fn push(&mut self, bytes: &[u8], end: End, fill: Fill) {
        self.push_sized(bytes, end, fill, 0);
    }

    /// Pushes every value of `values` at `end` in turn (LPUSH/RPUSH with
    /// several arguments), sizing each node once for what follows instead
    /// of growing it element by element (fewer reallocs, less heap
    /// fragmentation).
    pub fn push_all<'v>(
        &mut self,
        values: impl Iterator<Item = &'v [u8]> + Clone,
        end: End,
        fill: Fill,
    ) {
        let mut rest: usize = values.clone().map(encoded_len).sum();
        for value in values {
            self.push_sized(value, end, fill, rest);
            rest -= encoded_len(value);
        }
    }

    /// [`ListValue::push`] with `rest` bytes (this one included) still to
    /// come: a node that must grow is given room for them, up to the fill.
    fn push_sized(&mut self, bytes: &[u8], end: End, fill: Fill, rest: usize) {
        let add = encoded_len(bytes);
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        match node {
            Some(node) if fill.allows(node, add) => {
                let off = if end == End::Head { 0 } else { node.data.len() };
                let room = rest.min(fill.bytes_max.saturating_sub(node.data.len()));
                node.insert_at(off, bytes, room);
            }
            _ => {
                let node = Node::with_entry(bytes, rest.min(fill.bytes_max));
                match end {
                    End::Head => self.nodes.push_front(node),
                    End::Tail => self.nodes.push_back(node),
                }
            }
        }
        self.len += 1;
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let idx = match end {
            End::Head => 0,
            End::Tail => self.len.checked_sub(1)?,
        };
        let value = self.get(idx)?.to_vec();
        self.remove_range(idx, 1);
        Some(value)
    }

    /// Node index and index inside it of element `idx` (< len).
    fn locate(&self, idx: usize) -> Option<(usize, u32)> {
        if idx >= self.len {
            return None;
        }
        if idx < self.len / 2 {
            let mut rest = idx;
            for n in 0..self.nodes.len() {
                let node = &self.nodes[n];
                let count = node.count as usize;
                if rest < count {
                    return Some((n, rest as u32));
                }
                rest -= count;
            }
        } else {
            let mut rest = self.len - idx; // 1-based from the tail
            for n in (0..self.nodes.len()).rev() {
                let node = &self.nodes[n];
                let count = node.count as usize;
                if rest <= count {
                    return Some((n, (count - rest) as u32));
                }
                rest -= count;
            }
        }
        unreachable!("list length {} disagrees with its nodes", self.len)
    }

    /// The element at `idx` (0-based from the head).
    pub fn get(&self, idx: usize) -> Option<Elem<'_>> {
        let (n, i) = self.locate(idx)?;
        let node = &self.nodes[n];
        Some(node.entry_at(node.offset_of(i)).0)
    }

    /// Replaces the element at `idx`; false when out of range.
    pub fn set(&mut self, idx: usize, bytes: &[u8], fill: Fill) -> bool {
        let Some((n, i)) = self.locate(idx) else {
            return false;
        };
        let node = &mut self.nodes[n];
        let off = node.offset_of(i);
        let end = node.entry_at(off).1;
        let mut enc = Vec::with_capacity(encoded_len(bytes));
        encode(bytes, &mut enc);
        super::replace_range(&mut node.data, off..end, &enc);
        self.split_if_big(n, fill);
        true
    }

    /// Inserts `bytes` before element `idx`, or after it with `after`.
    pub fn insert(&mut self, idx: usize, after: bool, bytes: &[u8], fill: Fill) {
        let Some((n, i)) = self.locate(idx) else {
            return;
        };
        let add = encoded_len(bytes);
        let node = &mut self.nodes[n];
        let at = if after { i + 1 } else { i };
        // Like quicklist, spill to a neighbouring node when this one is full
        // and the insertion point is at its edge.
        if !fill.allows(node, add) && (at == 0 || at == node.count) {
            let neighbour = if at == 0 {
                n.checked_sub(1)
            } else {
                Some(n + 1).filter(|&m| m < self.nodes.len())
            };
            match neighbour {
                Some(m) if fill.allows(&self.nodes[m], add) => {
                    let node = &mut self.nodes[m];
                    let off = if at == 0 { node.data.len() } else { 0 };
                    node.insert_at(off, bytes, 0);
                }
                _ => {
                    let pos = if at == 0 { n } else { n + 1 };
                    self.nodes.insert(pos, Node::with_entry(bytes, 0));
                }
            }
        } else {
            let off = if at == node.count {
                node.data.len()
            } else {
                node.offset_of(at)
            };
            node.insert_at(off, bytes, 0);
            self.split_if_big(n, fill);
        }
        self.len += 1;
    }

    /// Splits node `n` in two when it outgrew `fill`.
    fn split_if_big(&mut self, n: usize, fill: Fill) {
        let node = &mut self.nodes[n];
        if node.count > 1 && (node.data.len() > fill.bytes_max || node.count > fill.count_max) {
            let tail = node.split_off(node.count / 2);
            self.nodes.insert(n + 1, tail);
        }
    }

    /// Removes `count` elements starting at `start` (clamped to the list).
    pub fn remove_range(&mut self, start: usize, count: usize) {
        let count = count.min(self.len.saturating_sub(start));
        if count == 0 {
            return;
        }
        let Some((mut n, mut i)) = self.locate(start) else {
            return;
        };
        let mut left = count;
        while left > 0 {
            let node = &mut self.nodes[n];
            let take = left.min((node.count - i) as usize) as u32;
            if i == 0 && take == node.count {
                self.nodes.remove(n);
            } else {
                let from = node.offset_of(i);
                let to = if i + take == node.count {
                    node.data.len()
                } else {
                    node.offset_of(i + take)
                };
                node.data.drain(from..to);
                node.count -= take;
                if node.data.capacity() > 64 && node.data.len() < node.data.capacity() / 4 {
                    node.data.shrink_to_fit();
                }
                n += 1;
                i = 0;
            }
            left -= take as usize;
        }
        self.len -= count;
    }

    /// Removes up to `limit` elements (0 = all) equal to `needle`, walking
    /// from `from` (Redis LREM). Returns how many were removed.
    pub fn remove_matching(&mut self, needle: Needle<'_>, limit: usize, from: End) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = match from {
            End::Head => (0..self.nodes.len()).collect(),
            End::Tail => (0..self.nodes.len()).rev().collect(),
        };
        for n in order {
            if limit != 0 && removed == limit {
                break;
            }
            let node = &self.nodes[n];
            let elems: Vec<Elem<'_>> = node.iter().collect();
            let mut keep = vec![true; elems.len()];
            let positions: Box<dyn Iterator<Item = usize>> = match from {
                End::Head => Box::new(0..elems.len()),
                End::Tail => Box::new((0..elems.len()).rev()),
            };
            let mut hit = false;
            for p in positions {
                if limit != 0 && removed == limit {
                    break;
                }
                if needle.matches(elems[p]) {
                    keep[p] = false;
                    removed += 1;
                    hit = true;
                }
            }
            if !hit {
                continue;
            }
            let mut data = Vec::with_capacity(node.data.len());
            let mut count = 0;
            for (elem, kept) in elems.iter().zip(&keep) {
                if *kept {
                    match elem {
                        Elem::Str(b) => encode(b, &mut data),
                        Elem::Int(v) => {
                            encode(itoa::Buffer::new().format(*v).as_bytes(), &mut data)
                        }
                    }
                    count += 1;
                }
            }
            self.nodes[n] = Node { data, count };
        }
        self.nodes.retain(|node| node.count > 0);
        self.len -= removed;
        removed
    }

    /// Elements `start..=end` (clamped), in order.
    pub fn range(&self, start: usize, end: usize) -> Range<'_> {
        let end = end.min(self.len.saturating_sub(1));
        let remaining = if start > end || start >= self.len {
            0
        } else {
            end - start + 1
        };
        let (front, back) = if remaining == 0 {
            ((0, 0), (0, 0))
        } else {
            let (fn_, fi) = self.locate(start).unwrap_or((0, 0));
            let (bn, bi) = self.locate(end).unwrap_or((0, 0));
            let front = (fn_, self.nodes[fn_].offset_of(fi));
            let back_node = &self.nodes[bn];
            let back = (bn, back_node.entry_at(back_node.offset_of(bi)).1);
            (front, back)
        };
        Range {
            list: self,
            front,
            back,
            remaining,
        }
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> Range<'_> {
        self.range(0, self.len.saturating_sub(1))
    }
}

/// A double-ended walk over a run of elements (see [`ListValue::range`]).
pub struct Range<'a> {
    list: &'a ListValue,
    /// (node, byte offset of the next element).
    front: (usize, usize),
    /// (node, byte offset just past the next element from the back).
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Range<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let (mut n, mut off) = self.front;
        if off >= self.list.nodes[n].data.len() {
            n += 1;
            off = 0;
        }
        let (elem, next) = self.list.nodes[n].entry_at(off);
        self.front = (n, next);
        self.remaining -= 1;
        Some(elem)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (mut n, mut end) = self.back;
        if end == 0 {
            n -= 1;
            end = self.list.nodes[n].data.len();
        }
        let node = &self.list.nodes[n];
        let start = node.start_before(end);
        self.back = (n, start);
        self.remaining -= 1;
        Some(node.entry_at(start).0)
    }
}

impl ExactSizeIterator for Range<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(list: &ListValue) -> Vec<Vec<u8>> {
        list.iter().map(Elem::to_vec).collect()
    }

    /// Checks the list against a `VecDeque` model through random operations
    /// with tiny nodes (count 3) so node boundaries are crossed constantly.
    #[test]
    fn matches_a_deque_model() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let values: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"12".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"007".to_vec(),
            vec![b'x'; 200],
            b"".to_vec(),
            b"300000".to_vec(),
        ];
        for fill in [3, -1, 1] {
            let fill = Fill::from_config(fill);
            let mut list = ListValue::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for _ in 0..3000 {
                let v = values[rnd(values.len() as u64) as usize].clone();
                let len = model.len();
                match rnd(9) {
                    0 => {
                        list.push(&v, End::Head, fill);
                        model.push_front(v);
                    }
                    1 => {
                        list.push(&v, End::Tail, fill);
                        model.push_back(v);
                    }
                    2 => {
                        let w = values[rnd(values.len() as u64) as usize].clone();
                        let end = if rnd(2) == 0 { End::Head } else { End::Tail };
                        list.push_all([&v[..], &w[..]].into_iter(), end, fill);
                        if end == End::Head {
                            model.push_front(v);
                            model.push_front(w);
                        } else {
                            model.push_back(v);
                            model.push_back(w);
                        }
                    }
                    3 => assert_eq!(list.pop(End::Head), model.pop_front()),
                    4 if len > 0 => {
                        let i = rnd(len as u64) as usize;
                        let after = rnd(2) == 0;
                        list.insert(i, after, &v, fill);
                        model.insert(if after { i + 1 } else { i }, v);
                    }
                    5 if len > 0 => {
                        let i = rnd(len as u64) as usize;
                        assert!(list.set(i, &v, fill));
                        model[i] = v;
                    }
                    6 => {
                        let start = rnd(len as u64 + 1) as usize;
                        let count = rnd(4) as usize;
                        list.remove_range(start, count);
                        let end = (start + count).min(len);
                        model.drain(start.min(len)..end);
                    }
                    7 if rnd(10) == 0 => {
                        let from = if rnd(2) == 0 { End::Head } else { End::Tail };
                        let limit = rnd(3) as usize;
                        let removed = list.remove_matching(Needle::new(&v), limit, from);
                        let mut gone = 0;
                        let idx: Vec<usize> = match from {
                            End::Head => (0..len).collect(),
                            End::Tail => (0..len).rev().collect(),
                        };
                        let mut drop = Vec::new();
                        for i in idx {
                            if limit != 0 && gone == limit {
                                break;
                            }
                            if model[i] == v {
                                drop.push(i);
                                gone += 1;
                            }
                        }
                        drop.sort_unstable();
                        for i in drop.into_iter().rev() {
                            model.remove(i);
                        }
                        assert_eq!(removed, gone);
                    }
                    _ => assert_eq!(list.pop(End::Tail), model.pop_back()),
                }
                assert_eq!(list.len(), model.len());
                assert!(list.nodes.iter().all(|n| n.count > 0));
                if !model.is_empty() {
                    let i = rnd(model.len() as u64) as usize;
                    assert_eq!(list.get(i).map(Elem::to_vec), Some(model[i].clone()));
                    let j = rnd(model.len() as u64) as usize;
                    let (a, b) = (i.min(j), i.max(j));
                    let fwd: Vec<Vec<u8>> = list.range(a, b).map(Elem::to_vec).collect();
                    let want: Vec<Vec<u8>> = model.range(a..=b).cloned().collect();
                    assert_eq!(fwd, want);
                    let back: Vec<Vec<u8>> = list.range(a, b).rev().map(Elem::to_vec).collect();
                    assert_eq!(back, want.into_iter().rev().collect::<Vec<_>>());
                }
            }
            assert_eq!(bytes(&list), model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn fill_follows_list_max_listpack_size() {
        assert_eq!(
            Fill::from_config(-2),
            Fill {
                bytes_max: 8192,
                count_max: 65535
            }
        );
        assert_eq!(Fill::from_config(-1).bytes_max, 4096);
        assert_eq!(Fill::from_config(-5).bytes_max, 65536);
        assert_eq!(Fill::from_config(i64::MIN).bytes_max, 65536);
        assert_eq!(
            Fill::from_config(5),
            Fill {
                bytes_max: 8192,
                count_max: 5
            }
        );
        assert_eq!(Fill::from_config(i64::MAX).count_max, 32767);
        // 0: every element in its own node.
        let mut list = ListValue::new();
        for v in ["a", "b", "c"] {
            list.push(v.as_bytes(), End::Tail, Fill::from_config(0));
        }
        assert_eq!(list.nodes.len(), 3);
        assert_eq!(list.pop(End::Head), Some(b"a".to_vec()));
        assert_eq!(list.pop(End::Head), Some(b"b".to_vec()));
        assert!(
            matches!(list.nodes, Nodes::One(_)),
            "back to the inline node"
        );
    }

    #[test]
    fn integers_are_compact_and_canonical() {
        let mut list = ListValue::new();
        for v in [
            "0",
            "-1",
            "127",
            "128",
            "-129",
            "9223372036854775807",
            "+1",
            "01",
            "-0",
        ] {
            list.push(v.as_bytes(), End::Tail, Fill::default());
        }
        let got: Vec<Elem> = list.iter().collect();
        assert_eq!(got[0], Elem::Int(0));
        assert_eq!(got[5], Elem::Int(i64::MAX));
        assert_eq!(got[6], Elem::Str(b"+1"));
        assert_eq!(got[8], Elem::Str(b"-0"));
        assert!(Needle::new(b"127").matches(got[2]));
        // A multi-element push sizes its node once, exactly.
        let values: Vec<String> = (0..60).map(|j| format!("member-{j}")).collect();
        let mut list = ListValue::new();
        list.push_all(
            values.iter().map(|v| v.as_bytes()),
            End::Tail,
            Fill::default(),
        );
        assert_eq!(list.nodes[0].data.capacity(), list.nodes[0].data.len());
        assert!(!Needle::new(b"0127").matches(got[2]));
        assert_eq!(list.nodes.len(), 1);
    }
}
