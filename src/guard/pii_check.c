/*
 * pii_check.c — checksum and format validators for the PII detectors (see pii_check.h).
 * The IBAN table follows the SWIFT IBAN registry: country, total length, BBAN structure as
 * runs of n (digits), a (upper-case letters) and c (letters or digits).
 */
#include "belt_config.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "guard/pii_check.h"

size_t belt__pii_digits(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            continue;
        if (k + 1 >= cap)
            return 0;
        out[k++] = s[i];
    }
    out[k] = '\0';
    return k;
}

int belt__pii_luhn(const char *d, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

/* ---- IBAN ------------------------------------------------------------------------------------ */

struct iban_country {
    char cc[3];        /* ISO 3166 alpha-2 */
    unsigned char len; /* total IBAN length */
    const char *bban;  /* structure, e.g. "8n16c" */
};

static const struct iban_country iban_countries[] = {
    {"AD", 24, "4n4n12c"},     {"AE", 23, "3n16n"},         {"AL", 28, "8n16c"},
    {"AT", 20, "5n11n"},       {"AZ", 28, "4a20c"},         {"BA", 20, "3n3n8n2n"},
    {"BE", 16, "3n7n2n"},      {"BG", 22, "4a4n2n8c"},      {"BH", 22, "4a14c"},
    {"BI", 27, "5n5n11n2n"},   {"BR", 29, "8n5n10n1a1c"},   {"BY", 28, "4c4n16c"},
    {"CH", 21, "5n12c"},       {"CR", 22, "4n14n"},         {"CY", 28, "3n5n16c"},
    {"CZ", 24, "4n6n10n"},     {"DE", 22, "8n10n"},         {"DJ", 27, "5n5n11n2n"},
    {"DK", 18, "4n9n1n"},      {"DO", 28, "4c20n"},         {"EE", 20, "2n2n11n1n"},
    {"EG", 29, "4n4n17n"},     {"ES", 24, "4n4n1n1n10n"},   {"FI", 18, "3n11n"},
    {"FO", 18, "4n9n1n"},      {"FR", 27, "5n5n11c2n"},     {"GB", 22, "4a6n8n"},
    {"GE", 22, "2a16n"},       {"GI", 23, "4a15c"},         {"GL", 18, "4n9n1n"},
    {"GR", 27, "3n4n16c"},     {"GT", 28, "4c20c"},         {"HR", 21, "7n10n"},
    {"HU", 28, "3n4n1n15n1n"}, {"IE", 22, "4a6n8n"},        {"IL", 23, "3n3n13n"},
    {"IQ", 23, "4a3n12n"},     {"IS", 26, "4n2n6n10n"},     {"IT", 27, "1a5n5n12c"},
    {"JO", 30, "4a4n18c"},     {"KW", 30, "4a22c"},         {"KZ", 20, "3n13c"},
    {"LB", 28, "4n20c"},       {"LC", 32, "4a24c"},         {"LI", 21, "5n12c"},
    {"LT", 20, "5n11n"},       {"LU", 20, "3n13c"},         {"LV", 21, "4a13c"},
    {"LY", 25, "3n3n15n"},     {"MC", 27, "5n5n11c2n"},     {"MD", 24, "2c18c"},
    {"ME", 22, "3n13n2n"},     {"MK", 19, "3n10c2n"},       {"MR", 27, "5n5n11n2n"},
    {"MT", 31, "4a5n18c"},     {"MU", 30, "4a2n2n12n3n3a"}, {"NL", 18, "4a10n"},
    {"NO", 15, "4n6n1n"},      {"PK", 24, "4a16c"},         {"PL", 28, "8n16n"},
    {"PS", 29, "4a21c"},       {"PT", 25, "4n4n11n2n"},     {"QA", 29, "4a21c"},
    {"RO", 24, "4a16c"},       {"RS", 22, "3n13n2n"},       {"RU", 33, "9n5n15c"},
    {"SA", 24, "2n18c"},       {"SC", 31, "4a2n2n16n3a"},   {"SD", 18, "2n12n"},
    {"SE", 24, "3n16n1n"},     {"SI", 19, "5n8n2n"},        {"SK", 24, "4n6n10n"},
    {"SM", 27, "1a5n5n12c"},   {"ST", 25, "8n11n2n"},       {"SV", 28, "4a20n"},
    {"TL", 23, "3n14n2n"},     {"TN", 24, "2n3n13n2n"},     {"TR", 26, "5n1n16c"},
    {"UA", 29, "6n19c"},       {"VA", 22, "3n15n"},         {"VG", 24, "4a16n"},
    {"XK", 20, "4n10n2n"},
};

static const struct iban_country *iban_find(const char *cc)
{
    for (size_t i = 0; i < BELT_ARRAY_LEN(iban_countries); i++)
        if (iban_countries[i].cc[0] == cc[0] && iban_countries[i].cc[1] == cc[1])
            return &iban_countries[i];
    return NULL;
}

size_t belt__pii_iban_len(const char *cc)
{
    const struct iban_country *c = iban_find(cc);
    return c ? c->len : 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/* Check the BBAN s[0..n) against a structure string like "4a6n8n". */
static int bban_matches(const char *s, size_t n, const char *fmt)
{
    size_t pos = 0;
    while (*fmt) {
        int count = 0;
        while (is_digit(*fmt))
            count = count * 10 + (*fmt++ - '0');
        char cls = *fmt++;
        for (int i = 0; i < count; i++, pos++) {
            if (pos >= n)
                return 0;
            char c = s[pos];
            int ok = cls == 'n'   ? is_digit(c)
                     : cls == 'a' ? is_upper(c)
                                  : is_digit(c) || is_upper(c);
            if (!ok)
                return 0;
        }
    }
    return pos == n;
}

int belt__pii_iban(const char *s, size_t n)
{
    char c[40];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '-')
            continue;
        if (k >= sizeof(c) - 1)
            return 0;
        c[k++] = s[i];
    }
    c[k] = '\0';
    if (k < 15 || !is_upper(c[0]) || !is_upper(c[1]) || !is_digit(c[2]) || !is_digit(c[3]))
        return 0;
    const struct iban_country *ct = iban_find(c);
    if (!ct || ct->len != k || !bban_matches(c + 4, k - 4, ct->bban))
        return 0;
    unsigned rem = 0; /* mod 97 of BBAN + country + check digits, letters as 10..35 */
    for (size_t i = 0; i < k; i++) {
        char ch = c[(i + 4) % k];
        if (is_digit(ch)) {
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        } else {
            unsigned v = (unsigned)(ch - 'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    return rem == 1;
}

/* ---- US numbers ------------------------------------------------------------------------------ */

int belt__pii_aba(const char *d)
{
    int p = (d[0] - '0') * 10 + (d[1] - '0');
    if (!((p <= 12) || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80))
        return 0;
    int sum = 0;
    static const int w[9] = {3, 7, 1, 3, 7, 1, 3, 7, 1};
    for (int i = 0; i < 9; i++)
        sum += w[i] * (d[i] - '0');
    return sum % 10 == 0;
}

int belt__pii_nhs(const char *d)
{
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += (d[i] - '0') * (10 - i);
    int check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    return check != 10 && check == d[9] - '0';
}

static int all_same(const char *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0])
            return 0;
    return 1;
}

int belt__pii_ssn(const char *d)
{
    /* Numbers printed in advertising and documentation, never issued or long invalidated. */
    static const char *const samples[] = {"078051120", "123456789", "219099999",
                                          "457555462", "111111111", "987654320"};
    if (all_same(d, 9))
        return 0;
    for (size_t i = 0; i < BELT_ARRAY_LEN(samples); i++)
        if (memcmp(d, samples[i], 9) == 0)
            return 0;
    if (memcmp(d, "000", 3) == 0 || memcmp(d, "666", 3) == 0 || d[0] == '9')
        return 0;
    if (memcmp(d + 3, "00", 2) == 0 || memcmp(d + 5, "0000", 4) == 0)
        return 0;
    return 1;
}

int belt__pii_itin(const char *d)
{
    if (d[0] != '9')
        return 0;
    int g = (d[3] - '0') * 10 + (d[4] - '0');
    return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) ||
           (g >= 94 && g <= 99);
}

/* ---- bitcoin --------------------------------------------------------------------------------- */

int belt__pii_base58check(const char *s, size_t n)
{
    static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    unsigned char out[25] = {0};
    if (n < 26 || n > 35)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(alphabet, s[i], sizeof(alphabet) - 1);
        if (!p)
            return 0;
        unsigned carry = (unsigned)(p - alphabet);
        for (int j = 24; j >= 0; j--) {
            carry += 58u * out[j];
            out[j] = (unsigned char)(carry & 0xff);
            carry >>= 8;
        }
        if (carry)
            return 0; /* does not fit 25 bytes */
    }
    if (!(out[0] == 0x00 || out[0] == 0x05 || out[0] == 0x6f || out[0] == 0xc4))
        return 0;
    /* Leading '1's encode leading zero bytes: a version-0 address starts with exactly one. */
    if ((out[0] == 0x00) != (s[0] == '1'))
        return 0;
    unsigned char h1[crypto_hash_sha256_BYTES], h2[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h1, out, 21);
    crypto_hash_sha256(h2, h1, sizeof(h1));
    return memcmp(h2, out + 21, 4) == 0;
}

static uint32_t bech32_polymod(const unsigned char *v, size_t n)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v[i];
        for (int j = 0; j < 5; j++)
            if ((top >> j) & 1)
                chk ^= gen[j];
    }
    return chk;
}

int belt__pii_bech32(const char *s, size_t n)
{
    static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    unsigned char v[100];
    if (n < 14 || n > 90)
        return 0;
    if (!((s[0] == 'b' && s[1] == 'c') || (s[0] == 't' && s[1] == 'b')) || s[2] != '1')
        return 0;
    size_t k = 0;
    v[k++] = (unsigned char)(s[0] >> 5);
    v[k++] = (unsigned char)(s[1] >> 5);
    v[k++] = 0;
    v[k++] = (unsigned char)(s[0] & 31);
    v[k++] = (unsigned char)(s[1] & 31);
    size_t data_start = k;
    for (size_t i = 3; i < n; i++) {
        const char *p = memchr(charset, s[i], sizeof(charset) - 1);
        if (!p)
            return 0;
        v[k++] = (unsigned char)(p - charset);
    }
    size_t n_data = k - data_start; /* witness version + program + 6 checksum symbols */
    if (n_data < 8)
        return 0;
    uint32_t pm = bech32_polymod(v, k);
    int wver = v[data_start];
    if (wver > 16 || pm != (wver == 0 ? 1u : 0x2bc830a3u))
        return 0;
    size_t prog_bits = (n_data - 7) * 5;
    size_t prog_bytes = prog_bits / 8;
    if (prog_bits % 8 >= 5 || prog_bytes < 2 || prog_bytes > 40)
        return 0;
    return wver != 0 || prog_bytes == 20 || prog_bytes == 32;
}

/* ---- domains --------------------------------------------------------------------------------- */

int belt__pii_tld(const char *label, size_t n, int strict)
{
    static const char *const generic[] = {
        "com",       "net",      "org",       "edu",        "gov",        "mil",     "int",
        "info",      "biz",      "name",      "pro",        "aero",       "coop",    "museum",
        "mobi",      "asia",     "tel",       "travel",     "jobs",       "cat",     "post",
        "app",       "dev",      "site",      "online",     "store",      "shop",    "tech",
        "blog",      "cloud",    "xyz",       "top",        "club",       "live",    "news",
        "wiki",      "page",     "link",      "click",      "space",      "website", "email",
        "solutions", "agency",   "digital",   "media",      "network",    "systems", "company",
        "group",     "services", "studio",    "design",     "global",     "world",   "today",
        "life",      "social",   "webcam",    "vlaanderen", "berlin",     "london",  "nyc",
        "paris",     "bank",     "finance",   "money",      "health",     "law",     "legal",
        "science",   "academy",  "education", "school",     "university", "works",   "zone",
        "one",       "run",      "art",
    };
    /* Two-letter labels that are also common file extensions: not domains without a scheme. */
    static const char *const file_like[] = {"py", "sh", "md", "rs", "pl", "pm", "ps", "cc",
                                            "so", "mk", "ml", "gz", "js", "ts", "hs", "rb"};
    if (n == 2 && (label[0] >= 'a' && label[0] <= 'z') && (label[1] >= 'a' && label[1] <= 'z')) {
        if (!strict)
            return 1;
        for (size_t i = 0; i < BELT_ARRAY_LEN(file_like); i++)
            if (memcmp(label, file_like[i], 2) == 0)
                return 0;
        return 1;
    }
    if (n > 2 && n >= 4 && memcmp(label, "xn--", 4) == 0)
        return 1;
    for (size_t i = 0; i < BELT_ARRAY_LEN(generic); i++)
        if (strlen(generic[i]) == n && memcmp(label, generic[i], n) == 0)
            return 1;
    return 0;
}
