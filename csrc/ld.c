/*
 * ld.c: the parts of Redis's number handling that need C's `long double`
 * (x87 80-bit on x86-64) or glibc's strtod/strtold grammar, which Rust lacks.
 *
 * Called only from src/num.rs. Every function takes explicit lengths, never
 * writes past `outcap`, and keeps no global state, so it is safe to call from
 * any thread. All of it runs in the C locale: sluice never calls setlocale(),
 * and Redis itself only sets LC_COLLATE, so '.' is always the decimal point.
 *
 * Compare against Redis 7.0 util.c (string2d, string2ld, ld2string) and
 * t_string.c (incrbyfloatCommand).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis util.h MAX_LONG_DOUBLE_CHARS: string2ld's input bound and the size
 * of the buffer ld2string formats into. */
#define SLUICE_LD_CHARS (5 * 1024)

#define SLUICE_ERR_NOT_FLOAT (-1)
#define SLUICE_ERR_NAN_OR_INF (-2)
#define SLUICE_ERR_NO_ROOM (-3)

/* True when strtod/strtold reported a range error that Redis rejects:
 * overflow to +-HUGE_VAL or underflow all the way to zero. A subnormal
 * result also sets ERANGE but is accepted, as in Redis. */
static int range_rejected(long double v, int err) {
    if (err != ERANGE) return 0;
    return isinf(v) || v == 0;
}

/* Redis string2ld(): the whole of s[0..slen) must be one strtold number,
 * with no leading space and no NaN. `s` need not be NUL-terminated. */
static int parse_ld(const char *s, size_t slen, long double *out) {
    char buf[SLUICE_LD_CHARS];
    char *end;
    long double v;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0])) return 0;
    /* An embedded NUL stops strtold early, so this also rejects it. */
    if (*end != '\0' || (size_t)(end - buf) != slen) return 0;
    if (range_rejected(v, errno) || errno == EINVAL) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* Redis ld2string(..., LD_STR_HUMAN): "%.17Lf", then drop trailing zeros
 * after the point and the point itself, and turn "-0" into "0". Returns the
 * length, or 0 when `cap` is too small (the caller treats that as an error). */
static size_t ld_human(char *buf, size_t cap, long double v) {
    size_t l;
    int n;

    if (isinf(v)) {
        const char *txt = v > 0 ? "inf" : "-inf";
        l = strlen(txt);
        if (cap < l + 1) return 0;
        memcpy(buf, txt, l + 1);
        return l;
    }
    n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    l = (size_t)n;
    if (memchr(buf, '.', l) != NULL) {
        while (l > 0 && buf[l - 1] == '0') l--;
        if (l > 0 && buf[l - 1] == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = '\0';
    return l;
}

/* Redis string2d(). `s` must have a NUL at s[slen] (the Rust caller copies
 * it into a terminated buffer); an embedded NUL makes the number invalid. */
int sluice_string2d(const char *s, size_t slen, double *out) {
    char *end;
    double v;

    if (slen == 0) return 0;
    errno = 0;
    v = strtod(s, &end);
    if (isspace((unsigned char)s[0])) return 0;
    if ((size_t)(end - s) != slen) return 0;
    if (range_rejected(v, errno)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* INCRBYFLOAT's arithmetic: parse both operands as long double, add them,
 * and format the sum the way Redis stores it. Returns the length written to
 * `out` (not NUL-terminated), or a negative SLUICE_ERR_* code. The current
 * value is checked before the increment, as Redis does. */
int sluice_incrbyfloat(const char *cur, size_t curlen, const char *incr,
                       size_t incrlen, char *out, size_t outcap) {
    char buf[SLUICE_LD_CHARS];
    long double value, delta;
    size_t l;

    if (!parse_ld(cur, curlen, &value)) return SLUICE_ERR_NOT_FLOAT;
    if (!parse_ld(incr, incrlen, &delta)) return SLUICE_ERR_NOT_FLOAT;
    value += delta;
    if (isnan(value) || isinf(value)) return SLUICE_ERR_NAN_OR_INF;
    l = ld_human(buf, sizeof(buf), value);
    if (l == 0 || l > outcap) return SLUICE_ERR_NO_ROOM;
    memcpy(out, buf, l);
    return (int)l;
}

/* string2ld() as a check: -1 when `s` is not a long double string, 0 when it
 * is +-inf, 1 when it is finite (HINCRBYFLOAT replies differently to each). */
int sluice_string2ld_class(const char *s, size_t slen) {
    long double v;

    if (!parse_ld(s, slen, &v)) return -1;
    return isinf(v) ? 0 : 1;
}

/* ld2string(v, LD_STR_HUMAN) for a double widened to long double (exact).
 * NaN prints as glibc does ("nan" or "-nan"). */
int sluice_ld2string_human(double v, char *out, size_t outcap) {
    char buf[SLUICE_LD_CHARS];
    size_t l;

    l = ld_human(buf, sizeof(buf), (long double)v);
    if (l == 0 || l > outcap) return SLUICE_ERR_NO_ROOM;
    memcpy(out, buf, l);
    return (int)l;
}

/* glibc's own "%.17g": the oracle the Rust formatter is tested against. */
int sluice_fmt_g17_libc(double v, char *out, size_t outcap) {
    int n = snprintf(out, outcap, "%.17g", v);
    if (n < 0 || (size_t)n >= outcap) return SLUICE_ERR_NO_ROOM;
    return n;
}
