//! A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19+) for
//! multishot receive: the kernel picks a free buffer per completion, so a
//! shard needs no per-connection receive buffer and one SQE serves a
//! connection for its whole life.
//!
//! ```text
//!   ring entries (page-aligned, shared with the kernel)   buffers
//!   [ addr|len|bid ] [ addr|len|bid ] ...  tail(u16)  ->  [bid 0][bid 1]...
//!   we add entries at `tail` and publish with a Release store; the kernel
//!   consumes from its head and names the chosen bid in each CQE.
//! ```
//!
//! Invariant: a buffer id is either in the ring (the kernel may write it) or
//! lent to exactly one CQE until [`BufRing::recycle`] gives it back.
#![allow(unsafe_code)]

use io_uring::types::BufRingEntry;
use io_uring::Submitter;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

pub struct BufRing {
    entries: *mut BufRingEntry,
    layout: Layout,
    bufs: Box<[u8]>,
    buf_len: usize,
    count: u16,
    tail: u16,
    pub bgid: u16,
}

impl BufRing {
    /// Allocates `count` (a power of two, at most 32768) buffers of
    /// `buf_len` bytes, registers them as group `bgid` and fills the ring.
    pub fn register(
        submitter: &Submitter<'_>,
        bgid: u16,
        count: u16,
        buf_len: usize,
    ) -> io::Result<BufRing> {
        assert!(count.is_power_of_two() && count <= 32768);
        let layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        // SAFETY: layout has non-zero size (count >= 1).
        let entries = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut ring = BufRing {
            entries,
            layout,
            bufs: vec![0u8; usize::from(count) * buf_len].into_boxed_slice(),
            buf_len,
            count,
            tail: 0,
            bgid,
        };
        // SAFETY: `entries` is page-aligned, zeroed, `count` entries long and
        // lives until `ring` is dropped, which the shard does only after the
        // io_uring itself (field order), so the kernel never sees it freed.
        unsafe { submitter.register_buf_ring_with_flags(entries as u64, count, bgid, 0)? };
        for bid in 0..count {
            ring.push(bid);
        }
        ring.publish();
        Ok(ring)
    }

    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: slot < count, inside the allocation; the kernel reads only
        // entries before the published tail, and this one is after it.
        let entry = unsafe { &mut *self.entries.add(slot) };
        let start = usize::from(bid) * self.buf_len;
        entry.set_addr(self.bufs[start..].as_ptr() as u64);
        entry.set_len(self.buf_len as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved bytes
        // (BufRingEntry::tail), an aligned u16 inside our allocation, and the
        // kernel reads it atomically.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        // Release: the entries written above are visible before the tail.
        tail.store(self.tail, Ordering::Release);
    }

    /// The first `len` bytes the kernel wrote into buffer `bid`.
    pub fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * self.buf_len;
        &self.bufs[start..start + len.min(self.buf_len)]
    }

    /// Returns buffer `bid` to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        debug_assert!(bid < self.count);
        self.push(bid);
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with this layout; the ring that
        // referenced it is already closed (see `register`).
        unsafe { dealloc(self.entries.cast(), self.layout) };
    }
}
