//! Glob-style pattern matching with the exact semantics of Redis's
//! `stringmatchlen` (util.c, 7.0): `*`, `?`, `[...]` classes with ranges and
//! `^` negation, and `\` escapes, optionally ASCII case-insensitive.
//!
//! Used by KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET and anything else that
//! takes a Redis pattern. It owns no state and allocates nothing.
//!
//! Key invariant: the matcher is iterative and runs in O(pattern × string)
//! time with O(1) memory, so no pattern (however many `*` it has) can exhaust
//! the stack. Redis 7.0.15 recurses once per `*`; it stops retrying earlier
//! stars once a later star has failed everywhere (`skipLongerMatches`), which
//! is exactly the classic "backtrack to the last star only" algorithm used
//! here, so the results are identical without the recursion.
//!
//! Quirks kept on purpose because Redis has them:
//! - `*` does not match the empty string when the string is empty from the
//!   start (`stringmatchlen("*", "")` is 0); `a*` still matches `a`.
//! - An unterminated class (`[ab`) behaves as if closed at the end of the
//!   pattern; `[` alone never matches; `[^` matches any one byte.
//! - In a class, `a-]` is a range from `a` to `]`; range bounds are compared
//!   as C `char`, which is signed on the platforms Redis ships for, so bytes
//!   >= 0x80 sort before ASCII.
//! - A trailing lone `\` matches a literal backslash.
//! - Case folding is ASCII only (Redis runs with the C ctype locale), and an
//!   escaped byte inside a class is compared case-sensitively.

/// Outcome of running the pattern from some point without backtracking.
enum Run {
    /// The rest of the pattern matched the rest of the string.
    Match,
    /// A literal, `?` or class failed, or one side ran out first.
    Mismatch,
    /// Reached a `*` that is not the last pattern byte. `pattern_next` is the
    /// index just after it (after collapsing runs of `*`), `string_at` the
    /// string index it was reached at.
    Star {
        pattern_next: usize,
        string_at: usize,
    },
}

/// Returns whether `string` matches the Redis glob `pattern`.
///
/// Mirrors Redis `stringmatchlen(pattern, plen, string, slen, nocase)`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // The most recent star: where the pattern resumes after it and the next
    // string position it will be tried at. Earlier stars are never revisited
    // (see the module docs).
    let mut star: Option<(usize, usize)> = None;
    let mut outcome = run(pattern, 0, string, 0, nocase);
    loop {
        match outcome {
            Run::Match => return true,
            Run::Star {
                pattern_next,
                string_at,
            } => {
                // Redis only tries non-empty rests of the string for a star.
                if string_at >= string.len() {
                    return false;
                }
                star = Some((pattern_next, string_at));
                outcome = run(pattern, pattern_next, string, string_at, nocase);
            }
            Run::Mismatch => {
                let Some((pattern_next, string_at)) = star.as_mut() else {
                    return false;
                };
                *string_at += 1;
                if *string_at >= string.len() {
                    return false;
                }
                outcome = run(pattern, *pattern_next, string, *string_at, nocase);
            }
        }
    }
}

/// Byte `i` of `bytes`, or 0 past the end: Redis patterns are NUL-terminated
/// sds strings and `stringmatchlen` peeks one byte past the length in places.
fn byte_at(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(0)
}

/// A byte as C `char` (signed), widened, for range comparisons.
fn as_c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// C `tolower` in the "C" locale, on a value from [`as_c_char`].
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

fn bytes_equal(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Runs the body of Redis's `stringmatchlen_impl` loop from pattern index `p`
/// and string index `s` until it matches, fails, or meets a star.
fn run(pattern: &[u8], mut p: usize, string: &[u8], mut s: usize, nocase: bool) -> Run {
    while p < pattern.len() && s < string.len() {
        let plen = pattern.len() - p;
        match byte_at(pattern, p) {
            b'*' => {
                while p < pattern.len() && byte_at(pattern, p + 1) == b'*' {
                    p += 1;
                }
                if pattern.len() - p == 1 {
                    return Run::Match;
                }
                return Run::Star {
                    pattern_next: p + 1,
                    string_at: s,
                };
            }
            b'?' => s += 1,
            b'[' => {
                let Some(next) = match_class(pattern, p + 1, byte_at(string, s), nocase) else {
                    return Run::Mismatch;
                };
                p = next;
                s += 1;
            }
            _ => {
                if byte_at(pattern, p) == b'\\' && plen >= 2 {
                    p += 1;
                }
                if !bytes_equal(byte_at(pattern, p), byte_at(string, s), nocase) {
                    return Run::Mismatch;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while byte_at(pattern, p) == b'*' && p < pattern.len() {
                p += 1;
            }
            break;
        }
    }
    if p >= pattern.len() && s >= string.len() {
        Run::Match
    } else {
        Run::Mismatch
    }
}

/// Matches byte `c` against the class starting at `p` (just after `[`).
/// Returns the index of the class's last byte (its `]`, or the last pattern
/// byte if unterminated) when `c` is accepted, `None` when it is not.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<usize> {
    let end = pattern.len();
    let negate = byte_at(pattern, p) == b'^';
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        let rest = end.saturating_sub(p);
        let b = byte_at(pattern, p);
        if b == b'\\' && rest >= 2 {
            p += 1;
            if byte_at(pattern, p) == c {
                matched = true;
            }
        } else if b == b']' {
            break;
        } else if rest == 0 {
            // Unterminated: step back onto the last byte, as Redis does.
            p = p.saturating_sub(1);
            break;
        } else if rest >= 3 && byte_at(pattern, p + 1) == b'-' {
            let mut start = as_c_char(b);
            let mut stop = as_c_char(byte_at(pattern, p + 2));
            let mut ch = as_c_char(c);
            if start > stop {
                std::mem::swap(&mut start, &mut stop);
            }
            if nocase {
                start = c_tolower(start);
                stop = c_tolower(stop);
                ch = c_tolower(ch);
            }
            p += 2;
            if ch >= start && ch <= stop {
                matched = true;
            }
        } else if bytes_equal(b, c, nocase) {
            matched = true;
        }
        p += 1;
    }
    if negate {
        matched = !matched;
    }
    matched.then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A literal port of Redis 7.0.15 `stringmatchlen_impl` (recursive, with
    /// `skipLongerMatches`), used only as an oracle on short inputs.
    fn oracle(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
        fn imp(
            pat: &[u8],
            mut p: usize,
            st: &[u8],
            mut s: usize,
            nocase: bool,
            skip: &mut bool,
        ) -> bool {
            let at = |b: &[u8], i: usize| b.get(i).copied().unwrap_or(0);
            let mut plen = pat.len() as isize - p as isize;
            let mut slen = st.len() - s;
            while plen > 0 && slen > 0 {
                match at(pat, p) {
                    b'*' => {
                        while plen > 0 && at(pat, p + 1) == b'*' {
                            p += 1;
                            plen -= 1;
                        }
                        if plen == 1 {
                            return true;
                        }
                        while slen > 0 {
                            if imp(pat, p + 1, st, s, nocase, skip) {
                                return true;
                            }
                            if *skip {
                                return false;
                            }
                            s += 1;
                            slen -= 1;
                        }
                        *skip = true;
                        return false;
                    }
                    b'?' => {
                        s += 1;
                        slen -= 1;
                    }
                    b'[' => {
                        p += 1;
                        plen -= 1;
                        let not = at(pat, p) == b'^';
                        if not {
                            p += 1;
                            plen -= 1;
                        }
                        let mut m = false;
                        loop {
                            if at(pat, p) == b'\\' && plen >= 2 {
                                p += 1;
                                plen -= 1;
                                if at(pat, p) == at(st, s) {
                                    m = true;
                                }
                            } else if at(pat, p) == b']' {
                                break;
                            } else if plen == 0 {
                                p -= 1;
                                plen += 1;
                                break;
                            } else if plen >= 3 && at(pat, p + 1) == b'-' {
                                let (mut a, mut b) =
                                    (as_c_char(at(pat, p)), as_c_char(at(pat, p + 2)));
                                let mut c = as_c_char(at(st, s));
                                if a > b {
                                    std::mem::swap(&mut a, &mut b);
                                }
                                if nocase {
                                    a = c_tolower(a);
                                    b = c_tolower(b);
                                    c = c_tolower(c);
                                }
                                p += 2;
                                plen -= 2;
                                if c >= a && c <= b {
                                    m = true;
                                }
                            } else if bytes_equal(at(pat, p), at(st, s), nocase) {
                                m = true;
                            }
                            p += 1;
                            plen -= 1;
                        }
                        if not {
                            m = !m;
                        }
                        if !m {
                            return false;
                        }
                        s += 1;
                        slen -= 1;
                    }
                    _ => {
                        if at(pat, p) == b'\\' && plen >= 2 {
                            p += 1;
                            plen -= 1;
                        }
                        if !bytes_equal(at(pat, p), at(st, s), nocase) {
                            return false;
                        }
                        s += 1;
                        slen -= 1;
                    }
                }
                p += 1;
                plen -= 1;
                if slen == 0 {
                    while at(pat, p) == b'*' {
                        p += 1;
                        plen -= 1;
                    }
                    break;
                }
            }
            plen == 0 && slen == 0
        }
        let mut skip = false;
        imp(pattern, 0, string, 0, nocase, &mut skip)
    }

    fn m(p: &str, s: &str) -> bool {
        let got = glob_match(p.as_bytes(), s.as_bytes(), false);
        assert_eq!(
            got,
            oracle(p.as_bytes(), s.as_bytes(), false),
            "oracle disagrees on {p:?} {s:?}"
        );
        got
    }

    #[test]
    fn known_cases() {
        // Goal: the documented Redis KEYS examples and the edge cases listed in
        // the module docs, each also checked against the recursive oracle.
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("*", "anything"));
        assert!(!m("*", ""), "Redis: '*' does not match an empty string");
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(!m("a*?", "a"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(!m("[", "["));
        assert!(m("[^", "x"));
        assert!(m("[ab", "b"));
        assert!(m("[a-]", "^"), "'a-]' is the range ']'..'a'");
        assert!(m("[\\]]", "]"));
        assert!(m("a\\", "a\\"));
        assert!(m("*\\", "x\\"));
        assert!(!m("[]", "]"), "an empty class matches nothing");
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"h[A-Z]llo", b"hello", true));
        assert!(
            !glob_match(b"h[\\E]llo", b"hello", true),
            "escaped class byte is case-sensitive"
        );
        // Signed char ranges: 0xff is -1, so [a-\xff] is -1..=97.
        assert!(glob_match(b"[a-\xff]", b"\x00", false));
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(!glob_match(b"[a-\xff]", b"b", false));
    }

    #[test]
    fn star_heavy_patterns_do_not_overflow_the_stack() {
        // Goal: patterns that made Redis < 7.0 recurse exponentially or deeply
        // finish quickly here. Method: 100k stars against a 100k string.
        let pattern = "*a".repeat(50_000) + "b";
        let string = "a".repeat(100_000);
        assert!(!glob_match(pattern.as_bytes(), string.as_bytes(), false));
        let pattern = "a*".repeat(50_000);
        assert!(glob_match(pattern.as_bytes(), string.as_bytes(), false));
    }

    proptest! {
        #[test]
        fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..64),
                        s in proptest::collection::vec(any::<u8>(), 0..64),
                        nocase in any::<bool>()) {
            let _ = glob_match(&p, &s, nocase);
        }

        #[test]
        fn agrees_with_recursive_oracle(
            p in proptest::collection::vec(prop::sample::select(b"ab*?[]^-\\Ax\xff".to_vec()), 0..12),
            s in proptest::collection::vec(prop::sample::select(b"ab]^-\\*A\xff".to_vec()), 0..12),
            nocase in any::<bool>()) {
            prop_assert_eq!(glob_match(&p, &s, nocase), oracle(&p, &s, nocase));
        }
    }
}
