//! Redis's number rules: which strings are integers and floats, and how
//! floats are printed.
//!
//! Commands must accept and reject exactly the strings Redis 7.0 does and
//! print numbers byte for byte as it does, or clients and replicas diverge.
//! Each function names the Redis function it mirrors. This module does no IO
//! and keeps no state.
//!
//! Integers ([`parse_i64`]) and `%.17g` ([`fmt_g17`]) are pure Rust. Float
//! parsing falls back to glibc's `strtod`, and INCRBYFLOAT's arithmetic needs
//! C `long double` (80-bit on x86-64), which Rust lacks: both live in
//! `csrc/ld.c`, compiled by `build.rs`. That FFI is this module's only
//! `unsafe`; the C side takes explicit lengths and never writes past the
//! capacity it is given.
#![allow(unsafe_code)]

use std::fmt::Write as _;

/// Redis `MAX_LONG_DOUBLE_CHARS`: the longest `long double` string Redis
/// parses (exclusive) and the room it formats one into.
const LONG_DOUBLE_CHARS_MAX: usize = 5 * 1024;

/// Redis `LONG_STR_SIZE`: `string2ll` rejects strings this long or longer.
const LONG_STR_SIZE: usize = 21;

/// Inputs shorter than this take the stack buffer in [`parse_f64`].
const F64_STACK_BUF_LEN: usize = 64;

// Error codes returned by csrc/ld.c (SLUICE_ERR_*).
const C_ERR_NOT_FLOAT: i32 = -1;
const C_ERR_NAN_OR_INF: i32 = -2;

mod ffi {
    use std::ffi::{c_char, c_double, c_int};

    extern "C" {
        /// `s[slen]` must be NUL; reads `slen + 1` bytes, writes `*out` on success.
        pub fn sluice_string2d(s: *const c_char, slen: usize, out: *mut c_double) -> c_int;
        /// Reads `curlen` and `incrlen` bytes; writes at most `outcap` bytes to `out`.
        pub fn sluice_incrbyfloat(
            cur: *const c_char,
            curlen: usize,
            incr: *const c_char,
            incrlen: usize,
            out: *mut c_char,
            outcap: usize,
        ) -> c_int;
        /// Reads `slen` bytes.
        pub fn sluice_string2ld_class(s: *const c_char, slen: usize) -> c_int;
        /// Writes at most `outcap` bytes to `out`.
        pub fn sluice_ld2string_human(v: c_double, out: *mut c_char, outcap: usize) -> c_int;
        /// Writes at most `outcap` bytes (including a NUL) to `out`.
        #[cfg(test)]
        pub fn sluice_fmt_g17_libc(v: c_double, out: *mut c_char, outcap: usize) -> c_int;
    }
}

/// Parses a signed 64-bit integer exactly as Redis `string2ll` (util.c).
///
/// Accepted: an optional `-`, then `0` alone or a digit 1-9 followed by
/// digits, in range, in fewer than 21 bytes. Rejected: empty input, `+`,
/// spaces anywhere, leading zeros, `-0`, and overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        // -(i64::MIN) is one past i64::MAX, so go through i128.
        i64::try_from(-i128::from(v)).ok()
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a double exactly as Redis `string2d` (util.c), used by
/// `getDoubleFromObject`: glibc `strtod` must consume the whole string.
///
/// Accepted beyond plain decimals: `+` and `-` signs, `5.`, `.5`, exponents,
/// hex floats (`0x1p3`), `inf`/`infinity` in any case, and subnormals.
/// Rejected: empty input, a leading space (trailing space is never consumed
/// either), NaN, overflow (`1e400`) and underflow to zero (`1e-400`).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if let Some(v) = parse_f64_plain(s) {
        return Some(v);
    }
    if s.is_empty() || s.contains(&0) {
        return None;
    }
    let mut stack = [0u8; F64_STACK_BUF_LEN];
    let mut heap = Vec::new();
    let on_stack = stack
        .get_mut(..s.len())
        .filter(|_| s.len() < F64_STACK_BUF_LEN);
    let terminated: &[u8] = if let Some(dst) = on_stack {
        // The byte after `dst` exists and is still zero.
        dst.copy_from_slice(s);
        &stack
    } else {
        heap.reserve_exact(s.len() + 1);
        heap.extend_from_slice(s);
        heap.push(0);
        &heap
    };
    debug_assert_eq!(terminated.get(s.len()), Some(&0));
    let mut out = 0.0f64;
    // SAFETY: `terminated` holds `s` followed by a NUL at index `s.len()`, so
    // strtod inside sluice_string2d reads only within it; `out` is a valid,
    // exclusively borrowed f64.
    let ok = unsafe { ffi::sluice_string2d(terminated.as_ptr().cast(), s.len(), &mut out) };
    (ok == 1).then_some(out)
}

/// Fast path for `-?[0-9]+(\.[0-9]+)?` up to 40 bytes, where Rust's parser
/// and glibc's `strtod` agree (both round correctly, and no such string can
/// overflow or underflow). Anything else returns `None` and goes to C.
fn parse_f64_plain(s: &[u8]) -> Option<f64> {
    const PLAIN_LEN_MAX: usize = 40;
    if s.len() > PLAIN_LEN_MAX {
        return None;
    }
    let unsigned = s.strip_prefix(b"-").unwrap_or(s);
    let (int, frac) = match unsigned.iter().position(|&b| b == b'.') {
        Some(dot) => (unsigned.get(..dot)?, Some(unsigned.get(dot + 1..)?)),
        None => (unsigned, None),
    };
    let all_digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !all_digits(int) || !frac.is_none_or(all_digits) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Appends `v` formatted as C `printf("%.17g", v)` with glibc: 17 significant
/// digits, exponent form below 1e-4 or from 1e17, trailing zeros removed,
/// `inf`/`-inf`, `nan`/`-nan`, and `-0` for negative zero. This is the text
/// of Redis `addReplyDouble`.
pub fn fmt_g17(v: f64, out: &mut Vec<u8>) {
    let mut buf = G17Buf::new();
    out.extend_from_slice(buf.format(v));
}

/// `%.17g` text never exceeds 24 bytes ("-1.2345678901234567e-308").
pub(crate) struct G17Buf {
    buf: [u8; 32],
    len: usize,
}

impl G17Buf {
    pub(crate) fn new() -> Self {
        G17Buf {
            buf: [0; 32],
            len: 0,
        }
    }

    /// Formats `v` as `%.17g` and returns the text.
    pub(crate) fn format(&mut self, v: f64) -> &[u8] {
        self.len = 0;
        if v.is_sign_negative() {
            self.push(b'-');
        }
        if v.is_nan() {
            self.extend(b"nan");
        } else if v.is_infinite() {
            self.extend(b"inf");
        } else {
            self.finite(v.abs());
        }
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Appends `%.17g` of a finite `v >= 0`.
    ///
    /// Rust's `{:.16e}` rounds the exact binary value to 17 significant digits
    /// with ties to even, as glibc does; `%g` then picks fixed or exponent form
    /// from the exponent of that rounded value.
    fn finite(&mut self, v: f64) {
        const PRECISION: i32 = 17;
        let mut sci = Scratch::default();
        // Cannot fail: the longest `{:.16e}` text is 23 bytes.
        let _ = write!(sci, "{v:.16e}");
        let text = sci.as_bytes();
        let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
            Some(e) => (
                text.get(..e).unwrap_or_default(),
                text.get(e + 1..).unwrap_or_default(),
            ),
            None => (text, &b""[..]),
        };
        let exp: i32 = std::str::from_utf8(exp)
            .ok()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        // Mantissa is "d.dddddddddddddddd": the 17 digits without the point.
        let mut digits = [b'0'; PRECISION as usize];
        for (d, &b) in digits
            .iter_mut()
            .zip(mantissa.iter().filter(|b| b.is_ascii_digit()))
        {
            *d = b;
        }
        if !(-4..PRECISION).contains(&exp) {
            let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, &[]));
            self.extend(first);
            self.fraction(rest);
            self.push(b'e');
            self.push(if exp < 0 { b'-' } else { b'+' });
            let mut itoa = itoa::Buffer::new();
            let exp_text = itoa.format(exp.unsigned_abs());
            if exp_text.len() < 2 {
                self.push(b'0');
            }
            self.extend(exp_text.as_bytes());
        } else if exp >= 0 {
            // `exp + 1` integer digits, the rest after the point.
            let int_len = exp.unsigned_abs() as usize + 1;
            let (int, frac) = digits.split_at_checked(int_len).unwrap_or((&digits, &[]));
            self.extend(int);
            self.fraction(frac);
        } else {
            // 1e-4 <= v < 1: "0." then -exp-1 zeros then the digits.
            self.extend(b"0");
            let mut frac = [b'0'; PRECISION as usize + 4];
            let zeros = exp.unsigned_abs() as usize - 1;
            for (d, &b) in frac.iter_mut().skip(zeros).zip(digits.iter()) {
                *d = b;
            }
            self.fraction(frac.get(..zeros + digits.len()).unwrap_or_default());
        }
    }

    /// Appends `.frac` without trailing zeros, or nothing if all are zero.
    fn fraction(&mut self, frac: &[u8]) {
        let kept = frac.iter().rposition(|&b| b != b'0').map_or(0, |i| i + 1);
        if let Some(kept) = frac.get(..kept).filter(|k| !k.is_empty()) {
            self.push(b'.');
            self.extend(kept);
        }
    }

    fn push(&mut self, b: u8) {
        self.extend(&[b]);
    }

    fn extend(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        } else {
            debug_assert!(false, "%.17g text longer than 32 bytes");
        }
    }
}

/// A fixed stack buffer for `write!`; fails instead of growing.
#[derive(Default)]
struct Scratch {
    buf: [u8; 32],
    len: usize,
}

impl Scratch {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl std::fmt::Write for Scratch {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Why INCRBYFLOAT (or HINCRBYFLOAT) failed. `Display` is the error reply text.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncrFloatError {
    /// The stored value or the increment is not a `long double` string.
    #[error("ERR value is not a valid float")]
    NotAFloat,
    /// The sum is NaN or infinite (an operand may itself be `inf`).
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
}

/// INCRBYFLOAT byte for byte as Redis t_string.c `incrbyfloatCommand`: both
/// strings parsed by `string2ld` (glibc `strtold`, whole string, no leading
/// space, no NaN, under 5120 bytes), summed in `long double`, and printed by
/// `ld2string(LD_STR_HUMAN)` (`%.17Lf` with trailing zeros and point removed,
/// `-0` as `0`). Returns the new value to store and reply with.
///
/// For a missing key pass `b"0"`, which is what Redis adds to.
pub fn incrbyfloat(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let mut out = [0u8; LONG_DOUBLE_CHARS_MAX];
    // SAFETY: the pointers and lengths come from live slices, so C reads only
    // `current` and `incr`; it writes at most `out.len()` bytes into `out`.
    let n = unsafe {
        ffi::sluice_incrbyfloat(
            current.as_ptr().cast(),
            current.len(),
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match n {
        C_ERR_NOT_FLOAT => Err(IncrFloatError::NotAFloat),
        C_ERR_NAN_OR_INF => Err(IncrFloatError::NanOrInfinity),
        n => {
            let len = usize::try_from(n).map_err(|_| IncrFloatError::NotAFloat)?;
            // No room is impossible: a finite long double prints in < 4960 bytes.
            out.get(..len)
                .map(<[u8]>::to_vec)
                .ok_or(IncrFloatError::NotAFloat)
        }
    }
}

/// Checks `s` with Redis `string2ld` (the parser behind INCRBYFLOAT and
/// HINCRBYFLOAT): `None` if it is not a valid float, `Some(true)` if it is
/// finite, `Some(false)` for `inf`/`-inf`.
///
/// HINCRBYFLOAT needs this because, unlike INCRBYFLOAT, it checks the
/// increment first ("ERR value is not a valid float", then "ERR value is NaN
/// or Infinity") and only then the stored value ("ERR hash value is not a
/// float") before calling [`incrbyfloat`].
pub fn long_double_finite(s: &[u8]) -> Option<bool> {
    // SAFETY: C reads exactly `s.len()` bytes from the live slice `s`.
    let class = unsafe { ffi::sluice_string2ld_class(s.as_ptr().cast(), s.len()) };
    match class {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// Appends Redis `ld2string(v, LD_STR_HUMAN)` of `v` widened (exactly) to
/// `long double`: fixed notation with up to 17 decimals, trailing zeros and
/// a bare point removed, `-0` printed as `0`, `inf`/`-inf`.
pub fn ld_to_string_human(v: f64, out: &mut Vec<u8>) {
    // The longest result is DBL_MAX: 309 digits, no fraction.
    let mut buf = [0u8; 512];
    // SAFETY: C writes at most `buf.len()` bytes into the live stack buffer.
    let n = unsafe { ffi::sluice_ld2string_human(v, buf.as_mut_ptr().cast(), buf.len()) };
    let text = usize::try_from(n).ok().and_then(|n| buf.get(..n));
    debug_assert!(text.is_some(), "ld2string failed for {v}");
    out.extend_from_slice(text.unwrap_or_default());
}

#[cfg(test)]
fn fmt_g17_libc(v: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: C writes at most `buf.len()` bytes into the live stack buffer.
    let n = unsafe { ffi::sluice_fmt_g17_libc(v, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n)
        .ok()
        .and_then(|n| buf.get(..n))
        .unwrap_or_default()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_i64_follows_string2ll() {
        let ok: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"1", 1),
            (b"-1", -1),
            (b"10", 10),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for (s, v) in ok {
            assert_eq!(parse_i64(s), Some(*v), "{}", String::from_utf8_lossy(s));
        }
        let bad: &[&[u8]] = &[
            b"",
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"00",
            b"1.0",
            b"1e3",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"000000000000000000001",
            b"1\0",
            b"0x10",
        ];
        for s in bad {
            assert_eq!(parse_i64(s), None, "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn parse_f64_follows_string2d() {
        // Each accepted pair was checked with ZADD/ZSCORE on redis-server 7.0.15.
        let ok: &[(&[u8], f64)] = &[
            (b"1e5", 1e5),
            (b"0.1", 0.1),
            (b"inf", f64::INFINITY),
            (b"+inf", f64::INFINITY),
            (b"-inf", f64::NEG_INFINITY),
            (b"infinity", f64::INFINITY),
            (b"INF", f64::INFINITY),
            (b"0x10", 16.0),
            (b"0X1P3", 8.0),
            (b"+0", 0.0),
            (b"1.", 1.0),
            (b".5", 0.5),
            (b"1e+5", 1e5),
            (b"00012", 12.0),
            (b"-.5e-3", -0.0005),
            (b"3.0000000000000004", 3.0000000000000004),
            (b"4e-320", 4e-320),
        ];
        for (s, v) in ok {
            assert_eq!(parse_f64(s), Some(*v), "{}", String::from_utf8_lossy(s));
        }
        assert!(parse_f64(b"-0").is_some_and(|v| v == 0.0 && v.is_sign_negative()));
        // Each rejected string got "ERR value is not a valid float" from ZADD.
        let bad: &[&[u8]] = &[
            b"", b" 1", b"1 ", b"\t1", b"1e400", b"1e-400", b"nan", b"NaN", b"1e", b"1\0", b"1_0",
            b".", b"-", b"abc",
        ];
        for s in bad {
            assert_eq!(parse_f64(s), None, "{}", String::from_utf8_lossy(s));
        }
        let long = [b"0.".as_slice(), &[b'0'; 100], b"1"].concat();
        assert_eq!(parse_f64(&long), Some(1e-101));
        // Around the stack buffer's size, with text the fast path refuses.
        for len in F64_STACK_BUF_LEN - 2..F64_STACK_BUF_LEN + 2 {
            let text = [b"+".as_slice(), &vec![b'1'; len - 1]].concat();
            let want: f64 = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            assert_eq!(parse_f64(&text), Some(want), "len {len}");
            assert_eq!(
                parse_f64(&[text.as_slice(), b"x"].concat()),
                None,
                "len {len}"
            );
        }
    }

    #[test]
    fn fmt_g17_matches_redis_zscore() {
        // Each pair is ZADD z <input> m; ZSCORE z m on redis-server 7.0.15.
        let cases: &[(f64, &str)] = &[
            (1e5, "100000"),
            (0.1, "0.10000000000000001"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (4e-320, "3.999955468730732e-320"),
            (16.0, "16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (1e-7, "9.9999999999999995e-08"),
            (2.9802322387695312e-08, "2.9802322387695312e-08"),
            (-0.0005, "-0.00050000000000000001"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            fmt_g17(*v, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), *want, "{v:e}");
            assert_eq!(fmt_g17_libc(*v), want.as_bytes(), "libc {v:e}");
        }
    }

    /// Current value, increment, and the reply.
    type IncrCase = (
        &'static [u8],
        &'static [u8],
        Result<&'static str, IncrFloatError>,
    );

    /// Each triple is SET k <current>; INCRBYFLOAT k <incr> on redis-server 7.0.15.
    const INCRBYFLOAT_REDIS: &[IncrCase] = &[
        (b"10.5", b"0.1", Ok("10.6")),
        (b"10.5", b"5.0e3", Ok("5010.5")),
        (b"5.0e3", b"2.0e2", Ok("5200")),
        (b"3.0e3", b"0", Ok("3000")),
        (b"0", b"1e-400", Ok("0")),
        (b"0", b"inf", Err(IncrFloatError::NanOrInfinity)),
        (b"0", b"-inf", Err(IncrFloatError::NanOrInfinity)),
        (b"0", b"infinity", Err(IncrFloatError::NanOrInfinity)),
        (b"0", b"nan", Err(IncrFloatError::NotAFloat)),
        (b"1", b"-1", Ok("0")),
        (b"-0", b"0", Ok("0")),
        (b"0", b"-0.0", Ok("0")),
        (b"0", b"0.1", Ok("0.1")),
        (b"0.1", b"0.2", Ok("0.3")),
        (b"1.5", b" 1", Err(IncrFloatError::NotAFloat)),
        (b"1.5", b"1 ", Err(IncrFloatError::NotAFloat)),
        (b"0", b"+1.5", Ok("1.5")),
        (b"0", b"0x10", Ok("16")),
        (b"0", b"1e4933", Err(IncrFloatError::NotAFloat)),
        (b"0", b"3.0e-5", Ok("0.00003")),
        (b"0", b"1e-20", Ok("0")),
        (b"0", b"1.23456789012345678901234567890", Ok("1.23456789012345679")),
        (b"abc", b"1", Err(IncrFloatError::NotAFloat)),
        (b"", b"1", Err(IncrFloatError::NotAFloat)),
        (b"1", b"", Err(IncrFloatError::NotAFloat)),
        (b"0", b"1e", Err(IncrFloatError::NotAFloat)),
        (b"0", b".", Err(IncrFloatError::NotAFloat)),
        (b"0", b"5.", Ok("5")),
        (b"0", b".5", Ok("0.5")),
        (b"17179869184", b"0.00000000001", Ok("17179869184")),
        (b"0", b"-1e-5", Ok("-0.00001")),
        (b"0", b"9223372036854775807", Ok("9223372036854775807")),
        (b"0", b"-5e-18", Ok("0")),
        (b"0", b"1e-17", Ok("0.00000000000000001")),
        (b"0", b"5e-18", Ok("0")),
        (b"0", b"0x1p-2", Ok("0.25")),
        (b"0", b"1E3", Ok("1000")),
        (b"0", b"1\x002", Err(IncrFloatError::NotAFloat)),
        (b"0", b"1e-4940", Ok("0")),
        (b"0", b"3.6e-4951", Ok("0")),
        (b"1", b"1e-4940", Ok("1")),
        (
            b"0",
            b"1e308",
            Ok("99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048"),
        ),
        (
            b"1e308",
            b"1e308",
            Ok("199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"),
        ),
        (
            b"0",
            b"1e400",
            Ok("10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"),
        ),
    ];

    #[test]
    fn incrbyfloat_matches_redis() {
        for (cur, incr, want) in INCRBYFLOAT_REDIS {
            let got = incrbyfloat(cur, incr);
            let got = got
                .as_ref()
                .map(|v| String::from_utf8_lossy(v))
                .map_err(|e| *e);
            let want = want.map(std::borrow::Cow::from);
            assert_eq!(
                got,
                want,
                "{:?} + {:?}",
                String::from_utf8_lossy(cur),
                String::from_utf8_lossy(incr)
            );
        }
    }

    #[test]
    fn incrbyfloat_huge_and_bounds() {
        // 1e4000 only fits a long double; redis-server replies with 4000 digits.
        let v = incrbyfloat(b"0", b"1e4000").expect("valid");
        assert_eq!(v.len(), 4000);
        assert!(v.starts_with(b"999999999999999999996546387309"));
        assert!(v.ends_with(b"272729951206648276349901340672"));
        // string2ld rejects inputs of MAX_LONG_DOUBLE_CHARS bytes or more.
        let long_ok = [b"1.".as_slice(), &[b'0'; LONG_DOUBLE_CHARS_MAX - 3]].concat();
        assert_eq!(incrbyfloat(&long_ok, b"1").as_deref(), Ok(&b"2"[..]));
        let too_long = [b"1.".as_slice(), &[b'0'; LONG_DOUBLE_CHARS_MAX - 2]].concat();
        assert_eq!(incrbyfloat(&too_long, b"1"), Err(IncrFloatError::NotAFloat));
        // Checked in this order by Redis: current value first.
        assert_eq!(incrbyfloat(b"x", b"inf"), Err(IncrFloatError::NotAFloat));
        assert_eq!(
            incrbyfloat(b"inf", b"-inf"),
            Err(IncrFloatError::NanOrInfinity)
        );
        assert_eq!(
            IncrFloatError::NotAFloat.to_string(),
            "ERR value is not a valid float"
        );
    }

    #[test]
    fn long_double_classes() {
        assert_eq!(long_double_finite(b"1.5"), Some(true));
        assert_eq!(long_double_finite(b"1e4000"), Some(true));
        assert_eq!(long_double_finite(b"-inf"), Some(false));
        assert_eq!(long_double_finite(b"1e5000"), None);
        assert_eq!(long_double_finite(b"nan"), None);
        assert_eq!(long_double_finite(b" 1"), None);
        assert_eq!(long_double_finite(b""), None);
    }

    #[test]
    fn ld_to_string_human_examples() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.10000000000000001"),
            (-0.0, "0"),
            (3.0, "3"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (1e-18, "0"),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            ld_to_string_human(*v, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), *want);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn fmt_g17_equals_glibc(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let mut out = Vec::new();
            fmt_g17(v, &mut out);
            prop_assert_eq!(out, fmt_g17_libc(v));
        }

        #[test]
        fn fmt_g17_equals_glibc_near_decimals(m in -99_999_999i64..99_999_999, e in -30i32..30) {
            let v = m as f64 * 10f64.powi(e);
            let mut out = Vec::new();
            fmt_g17(v, &mut out);
            prop_assert_eq!(out, fmt_g17_libc(v));
        }

        #[test]
        fn parse_i64_round_trips(v in any::<i64>()) {
            prop_assert_eq!(parse_i64(v.to_string().as_bytes()), Some(v));
        }

        #[test]
        fn parse_i64_agrees_with_std_on_canonical_text(s in "-?[0-9]{0,21}") {
            let canonical = s.parse::<i64>().ok().filter(|v| v.to_string() == s);
            prop_assert_eq!(parse_i64(s.as_bytes()), canonical);
        }

        #[test]
        fn parse_f64_fast_path_agrees_with_strtod(s in "-?[0-9]{1,20}(\\.[0-9]{1,19})?") {
            let mut terminated = s.clone().into_bytes();
            terminated.push(0);
            let mut out = 0.0f64;
            // SAFETY: `terminated` is NUL-terminated at index `s.len()`.
            let ok = unsafe { ffi::sluice_string2d(terminated.as_ptr().cast(), s.len(), &mut out) };
            prop_assert_eq!(ok, 1);
            prop_assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), Some(out.to_bits()));
        }

        /// parse_f64 (fast path, stack or heap copy) agrees with calling
        /// string2d directly on a freshly terminated copy.
        #[test]
        fn parse_f64_equals_string2d(s in "[-+0-9.eExXpPaAfFinIN \t\0]{0,100}") {
            let mut terminated = s.clone().into_bytes();
            terminated.push(0);
            let mut out = 0.0f64;
            // SAFETY: `terminated` is NUL-terminated at index `s.len()`.
            let ok = unsafe { ffi::sluice_string2d(terminated.as_ptr().cast(), s.len(), &mut out) };
            let want = (ok == 1).then_some(out.to_bits());
            prop_assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), want);
        }

        #[test]
        fn parse_f64_reads_back_g17(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite() && v != 0.0);
            let mut text = Vec::new();
            fmt_g17(v, &mut text);
            prop_assert_eq!(parse_f64(&text), Some(v));
        }

        #[test]
        fn number_parsers_never_panic(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_i64(&s);
            let _ = parse_f64(&s);
            let _ = incrbyfloat(&s, b"1");
        }
    }
}
