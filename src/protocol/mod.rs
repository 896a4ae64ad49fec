//! RESP2/RESP3 wire protocol, sans-IO: request bytes in, [`Argv`] out;
//! replies in, bytes out.
//!
//! ```text
//!   socket bytes --> RequestParser::parse --> Argv --> command
//!   socket bytes <-- ReplyBuf::buf <-- ReplyBuf::{bulk, int, ...} <--+
//! ```
//!
//! This module owns the byte grammar and nothing else: it never touches a
//! socket, a clock, the keyspace or the command table, so it can be tested
//! and fuzzed alone ([`fuzz_parse`]). Its key invariant: anything a peer
//! sends yields a request, "need more bytes" or a [`ProtocolError`], never a
//! panic, and every length and count is bounded by [`Limits`] or Redis's
//! fixed limits before anything is allocated for it.
//!
//! Behaviour follows Redis 7.0 networking.c; each item names the function
//! it mirrors.

pub mod parse;
pub mod reply;

pub use parse::*;
pub use reply::ReplyBuf;
