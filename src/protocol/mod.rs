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

/// A command as a RESP multibulk (`*<n>\r\n$<len>\r\n<arg>\r\n...`), the
/// form clients send and masters feed their replicas.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let size: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(size + 16);
    encode_command_into(&mut out, args.iter().copied());
    out
}

/// [`encode_command`] appending to `out` (no allocation once `out` has
/// grown: the replication stream builds every write's form this way).
pub fn encode_command_into<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(n.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}
