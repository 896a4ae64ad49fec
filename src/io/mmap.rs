//! Read-only file mappings (RDB loading).

#![allow(unsafe_code)] // mapping a file: another process could change it under us.

use std::fs::File;
use std::io;

/// Maps `file` read-only with sequential read-ahead advice.
///
/// The file must not be truncated while mapped (a SIGBUS otherwise): the
/// server only maps its own RDB file, which it replaces by rename and never
/// truncates in place.
pub fn map_sequential(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: see above; the mapping is read-only and private to us.
    let map = unsafe { memmap2::Mmap::map(file)? };
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}
