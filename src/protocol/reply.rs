//! Reply encoder: appends RESP2 or RESP3 replies to a connection's output
//! buffer, byte for byte as Redis 7.0 networking.c `addReply*` writes them.
//!
//! It owns only the encoding; what to reply is the commands' business, and
//! writing the buffer to a socket is the server's. Every method appends one
//! complete reply or aggregate header and never allocates beyond growing
//! `buf` (numbers go through `itoa` and a stack buffer).

use crate::num::G17Buf;

/// A connection's pending output and the protocol version it speaks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyBuf {
    /// Encoded replies not yet handed to the socket.
    pub buf: Vec<u8>,
    /// True after `HELLO 3`: RESP3 types (`_`, `%`, `~`, `>`, `,`, `#`, `=`).
    pub resp3: bool,
}

impl ReplyBuf {
    /// An empty buffer speaking RESP2 or RESP3.
    pub fn new(resp3: bool) -> Self {
        ReplyBuf {
            buf: Vec::new(),
            resp3,
        }
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply `+<text>` (`addReplyStatusLength`). Like Redis, `text`
    /// is written as is: it must not contain `\r` or `\n`.
    pub fn simple(&mut self, text: &[u8]) {
        debug_assert!(
            !text.contains(&b'\r') && !text.contains(&b'\n'),
            "CR/LF in status reply"
        );
        self.buf.reserve(text.len() + 3);
        self.buf.push(b'+');
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply from text that starts with its code, like
    /// `"ERR syntax error"` or `"WRONGTYPE Operation ..."`: writes
    /// `-<text>\r\n`, with each `\r` and `\n` in the text replaced by a space
    /// as Redis's `addReplyErrorFormat` does. A leading `-` is not doubled.
    pub fn error(&mut self, text: &str) {
        self.error_bytes(text.as_bytes());
    }

    /// [`ReplyBuf::error`] for text holding raw bytes (for example a command
    /// name quoted in "ERR unknown command").
    pub fn error_bytes(&mut self, text: &[u8]) {
        let text = text.strip_prefix(b"-").unwrap_or(text);
        self.buf.reserve(text.len() + 3);
        self.buf.push(b'-');
        self.buf.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer reply `:<n>`.
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    /// A bulk string `$<len>\r\n<bytes>\r\n`.
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.buf.reserve(bytes.len() + 16);
        self.len_header(b'$', bytes.len());
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer as a bulk string (`addReplyBulkLongLong`).
    pub fn bulk_int(&mut self, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.bulk(digits.format(n).as_bytes());
    }

    /// The null reply: RESP2 `$-1`, RESP3 `_`.
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// The null array: RESP2 `*-1`, RESP3 `_`.
    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// An array header `*<n>`; `n` replies follow.
    pub fn array(&mut self, n: usize) {
        self.len_header(b'*', n);
    }

    /// A map header for `n` key-value pairs: RESP3 `%<n>`, RESP2 `*<2n>`.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.len_header(b'%', n);
        } else {
            self.len_header(b'*', n.saturating_mul(2));
        }
    }

    /// A set header: RESP3 `~<n>`, RESP2 `*<n>`.
    pub fn set(&mut self, n: usize) {
        self.len_header(if self.resp3 { b'~' } else { b'*' }, n);
    }

    /// A push header (pub/sub messages, invalidations): RESP3 `><n>`, RESP2 `*<n>`.
    pub fn push(&mut self, n: usize) {
        self.len_header(if self.resp3 { b'>' } else { b'*' }, n);
    }

    /// A double as Redis 7.0.15 `addReplyDouble`: RESP2 a bulk string of
    /// `%.17g` (`inf`/`-inf` for infinities), RESP3 `,<%.17g>`.
    pub fn double(&mut self, v: f64) {
        let mut g17 = G17Buf::new();
        let text = g17.format(v);
        if self.resp3 {
            self.buf.reserve(text.len() + 3);
            self.buf.push(b',');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A boolean: RESP2 `:1`/`:0`, RESP3 `#t`/`#f`.
    pub fn bool(&mut self, b: bool) {
        self.buf.extend_from_slice(match (self.resp3, b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        });
    }

    /// A verbatim string (`addReplyVerbatim`): RESP3 `=<len+4>\r\n<ext>:<text>`
    /// with `ext` cut or space-padded to 3 bytes; RESP2 a plain bulk string.
    pub fn verbatim(&mut self, text: &[u8], ext: &str) {
        if !self.resp3 {
            self.bulk(text);
            return;
        }
        self.buf.reserve(text.len() + 24);
        self.len_header(b'=', text.len().saturating_add(4));
        let mut ext = ext.bytes().take_while(|&b| b != 0);
        for _ in 0..3 {
            self.buf.push(ext.next().unwrap_or(b' '));
        }
        self.buf.push(b':');
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Already-encoded RESP, appended as is.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `<prefix><n>\r\n` for a signed number.
    fn header(&mut self, prefix: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        self.buf.reserve(digits.len() + 3);
        self.buf.push(prefix);
        self.buf.extend_from_slice(digits);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `<prefix><n>\r\n` for a length or count.
    fn len_header(&mut self, prefix: u8, n: usize) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        self.buf.reserve(digits.len() + 3);
        self.buf.push(prefix);
        self.buf.extend_from_slice(digits);
        self.buf.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(f: impl Fn(&mut ReplyBuf)) -> (String, String) {
        let mut r2 = ReplyBuf::new(false);
        let mut r3 = ReplyBuf::new(true);
        f(&mut r2);
        f(&mut r3);
        (
            String::from_utf8_lossy(&r2.buf).into_owned(),
            String::from_utf8_lossy(&r3.buf).into_owned(),
        )
    }

    fn same(s: &str) -> (String, String) {
        (s.to_owned(), s.to_owned())
    }

    #[test]
    fn scalars() {
        assert_eq!(both(ReplyBuf::ok), same("+OK\r\n"));
        assert_eq!(both(|r| r.simple(b"PONG")), same("+PONG\r\n"));
        assert_eq!(both(|r| r.int(-42)), same(":-42\r\n"));
        assert_eq!(both(|r| r.int(i64::MIN)), same(":-9223372036854775808\r\n"));
        assert_eq!(both(|r| r.bulk(b"")), same("$0\r\n\r\n"));
        assert_eq!(both(|r| r.bulk(b"a\r\nb")), same("$4\r\na\r\nb\r\n"));
        assert_eq!(both(|r| r.bulk_int(-7)), same("$2\r\n-7\r\n"));
        assert_eq!(both(ReplyBuf::null), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(
            both(ReplyBuf::null_array),
            ("*-1\r\n".into(), "_\r\n".into())
        );
        assert_eq!(both(|r| r.bool(true)), (":1\r\n".into(), "#t\r\n".into()));
        assert_eq!(both(|r| r.bool(false)), (":0\r\n".into(), "#f\r\n".into()));
        assert_eq!(both(|r| r.raw(b"+x\r\n")), same("+x\r\n"));
    }

    #[test]
    fn errors_are_sanitized() {
        assert_eq!(
            both(|r| r.error("ERR syntax error")),
            same("-ERR syntax error\r\n")
        );
        assert_eq!(both(|r| r.error("-WRONGTYPE x")), same("-WRONGTYPE x\r\n"));
        assert_eq!(both(|r| r.error("ERR a\r\nb\n")), same("-ERR a  b \r\n"));
        assert_eq!(
            both(|r| r.error_bytes(b"ERR \xff")).0.as_bytes(),
            "-ERR \u{fffd}\r\n".as_bytes()
        );
    }

    #[test]
    fn aggregates() {
        assert_eq!(both(|r| r.array(3)), same("*3\r\n"));
        assert_eq!(both(|r| r.map(2)), ("*4\r\n".into(), "%2\r\n".into()));
        assert_eq!(both(|r| r.set(5)), ("*5\r\n".into(), "~5\r\n".into()));
        assert_eq!(both(|r| r.push(3)), ("*3\r\n".into(), ">3\r\n".into()));
    }

    /// RESP2 texts are ZSCORE replies from redis-server 7.0.15.
    #[test]
    fn doubles() {
        assert_eq!(
            both(|r| r.double(0.1)),
            (
                "$19\r\n0.10000000000000001\r\n".into(),
                ",0.10000000000000001\r\n".into()
            )
        );
        assert_eq!(
            both(|r| r.double(1e5)),
            ("$6\r\n100000\r\n".into(), ",100000\r\n".into())
        );
        assert_eq!(
            both(|r| r.double(f64::INFINITY)),
            ("$3\r\ninf\r\n".into(), ",inf\r\n".into())
        );
        assert_eq!(
            both(|r| r.double(f64::NEG_INFINITY)),
            ("$4\r\n-inf\r\n".into(), ",-inf\r\n".into())
        );
        assert_eq!(
            both(|r| r.double(1e22)),
            ("$5\r\n1e+22\r\n".into(), ",1e+22\r\n".into())
        );
        assert_eq!(
            both(|r| r.double(-0.0)),
            ("$2\r\n-0\r\n".into(), ",-0\r\n".into())
        );
    }

    #[test]
    fn verbatim() {
        assert_eq!(
            both(|r| r.verbatim(b"hello", "txt")),
            ("$5\r\nhello\r\n".into(), "=9\r\ntxt:hello\r\n".into())
        );
        assert_eq!(both(|r| r.verbatim(b"x", "md")).1, "=5\r\nmd :x\r\n");
        assert_eq!(both(|r| r.verbatim(b"", "markdown")).1, "=4\r\nmar:\r\n");
    }

    proptest! {
        #[test]
        fn bulk_is_length_prefixed(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut r = ReplyBuf::new(false);
            r.bulk(&bytes);
            let header = format!("${}\r\n", bytes.len());
            prop_assert!(r.buf.starts_with(header.as_bytes()));
            prop_assert_eq!(&r.buf[header.len()..r.buf.len() - 2], &bytes[..]);
            prop_assert!(r.buf.ends_with(b"\r\n"));
        }

        #[test]
        fn errors_never_contain_line_breaks(text in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut r = ReplyBuf::new(true);
            r.error_bytes(&text);
            let body = &r.buf[..r.buf.len() - 2];
            prop_assert!(!body.contains(&b'\r') && !body.contains(&b'\n'));
        }
    }
}
