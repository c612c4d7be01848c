/*
 * fmt.h — formatting for the request path without the printf family: decimal integers,
 * fixed-point decimals (costs) and HTTP dates. Each writes into a caller buffer.
 *
 * Thread rule: pure functions.
 */
#ifndef BELT_ENGINE_FMT_H
#define BELT_ENGINE_FMT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BELT__FMT_I64_MAX 21 /* "-9223372036854775808" and a NUL */

/* v in decimal into out (room for BELT__FMT_I64_MAX bytes), NUL-terminated; returns the
 * length without the NUL. */
static inline size_t belt__fmt_i64(char *out, int64_t v)
{
    char tmp[BELT__FMT_I64_MAX];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

/* v rounded to `decimals` (0..9) digits after the point exactly as "%.*f" prints it, when
 * |v| * 10^decimals < 1e9 and the digit after the last is not within 1e-6 of a tie; else
 * returns 0 and the caller uses snprintf. out needs room for 24 bytes; NUL-terminated.
 * (The product v * 10^decimals is off the exact value by at most 1e9 * 2^-53 < 1e-7, so away
 * from ties rounding it gives the digits of the exact binary value, as printf does.) */
static inline size_t belt__fmt_fixed(char *out, double v, int decimals)
{
    static const double pow10[] = {1,      10,      100,      1000,      10000,
                                   100000, 1000000, 10000000, 100000000, 1000000000};
    if (!isfinite(v) || decimals < 0 || decimals > 9)
        return 0;
    int neg = signbit(v) != 0;
    double scaled = fabs(v) * pow10[decimals];
    if (scaled >= 1e9 || fabs(scaled - floor(scaled) - 0.5) < 1e-6)
        return 0;
    double r = nearbyint(scaled);
    uint64_t u = (uint64_t)r;
    uint64_t ip = u / (uint64_t)pow10[decimals], fp = u % (uint64_t)pow10[decimals];
    size_t n = 0;
    if (neg)
        out[n++] = '-';
    n += belt__fmt_i64(out + n, (int64_t)ip);
    if (decimals) {
        out[n++] = '.';
        for (int i = decimals - 1; i >= 0; i--) {
            out[n + (size_t)i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        n += (size_t)decimals;
    }
    out[n] = '\0';
    return n;
}

/* The HTTP date "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate) of Unix second t
 * (years 0..9999) into out (30 bytes with the NUL). */
static inline void belt__fmt_http_date(int64_t t, char out[30])
{
    static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int64_t d = t >= 0 ? t / 86400 : (t - 86399) / 86400, sec = t - d * 86400;
    int wd = (int)(((d % 7) + 7) % 7);
    /* civil date from days since the epoch (H. Hinnant's algorithm) */
    int64_t z = d + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1), mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t year = yoe + era * 400 + (mon <= 2);
    int fields[] = {day / 10,
                    day % 10,
                    (int)(year / 1000 % 10),
                    (int)(year / 100 % 10),
                    (int)(year / 10 % 10),
                    (int)(year % 10),
                    (int)(sec / 36000),
                    (int)(sec / 3600 % 10),
                    (int)(sec % 3600 / 600),
                    (int)(sec % 3600 / 60 % 10),
                    (int)(sec % 60 / 10),
                    (int)(sec % 10)};
    char *o = out;
    memcpy(o, days + 3 * wd, 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    *o++ = (char)('0' + fields[0]);
    *o++ = (char)('0' + fields[1]);
    *o++ = ' ';
    memcpy(o, months + 3 * (mon - 1), 3);
    o += 3;
    *o++ = ' ';
    for (int i = 2; i < 6; i++)
        *o++ = (char)('0' + fields[i]);
    *o++ = ' ';
    for (int i = 6; i < 12; i += 2) {
        *o++ = (char)('0' + fields[i]);
        *o++ = (char)('0' + fields[i + 1]);
        *o++ = i < 10 ? ':' : ' ';
    }
    memcpy(o, "GMT", 4);
}

#endif
