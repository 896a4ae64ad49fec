//! Operating-system edges: io_uring buffer rings and the few plain syscalls
//! the shards need. `unsafe` in this crate lives here (and in `num`'s FFI).

pub mod alloc;
pub mod bufring;
pub mod filewriter;
pub mod mmap;
pub mod sys;
