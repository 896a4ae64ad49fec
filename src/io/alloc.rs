//! Heap accounting for INFO `used_memory` (and, later, `maxmemory`): a thin
//! wrapper over the system allocator that counts live bytes, as Redis's
//! zmalloc does.
//!
//! Each thread adds to its own cache-line-padded counter (threads are
//! spread over [`SLOTS`] counters), so counting costs one uncontended
//! relaxed add per allocation; readers sum the counters. The sum is exact
//! whenever no allocation is in flight, and off by at most the in-flight
//! sizes otherwise, which is what a statistic needs.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicI64);

static COUNTERS: [Slot; SLOTS] = [const { Slot(AtomicI64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // No destructor and a const initializer: usable from inside the
    // allocator, even while the thread is being torn down.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn add(bytes: i64) {
    let slot = MY_SLOT.with(|s| {
        let mut slot = s.get();
        if slot == usize::MAX {
            slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            s.set(slot);
        }
        slot
    });
    COUNTERS[slot].0.fetch_add(bytes, Ordering::Relaxed);
}

/// Records that the counting allocator is in use. Read first, so the
/// shared line is written once, not by every allocation on every thread.
fn mark_installed() {
    if INSTALLED.load(Ordering::Relaxed) == 0 {
        INSTALLED.store(1, Ordering::Relaxed);
    }
}

/// The counting allocator; `sluice-server` installs it as the global one.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// atomics and a const thread-local, and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        mark_installed();
        // SAFETY: forwarded caller contract (non-zero size layout).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            add(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        mark_installed();
        // SAFETY: forwarded caller contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            add(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded caller contract (ptr was allocated with layout).
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            add(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

/// Live heap bytes, or `None` when the counting allocator is not installed
/// (unit tests, other binaries).
pub fn used_bytes() -> Option<u64> {
    if INSTALLED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let total: i64 = COUNTERS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
    Some(total.max(0) as u64)
}
