/*
 * pii.c — table-driven PII detection: one static table of detectors (entity, PCRE2 pattern,
 * validator, context words, base score, context boost). Patterns are compiled once with the
 * PCRE2 JIT into a belt_pii that is read-only afterwards; each scan allocates its own match
 * data, so one belt_pii serves every thread.
 *
 * Scoring follows Presidio's model: a pattern gives a base score, a validator (checksum, ranges)
 * rejects the candidate or sets its score, and a context word near the match ("ssn", "iban",
 * "passport") adds a boost. Overlapping candidates are resolved by score, then length.
 */
#include "belt_config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guard/pii.h"
#include "guard/pii_check.h"
#include "util/error.h"

/* ---- entity names -------------------------------------------------------------------------- */

struct entity_names {
    const char *name;     /* configuration name */
    const char *tag;      /* placeholder tag */
    const char *presidio; /* Presidio entity type */
};

static const struct entity_names entity_names[] = {
    [BELT_PII_EMAIL] = {"email", "EMAIL", "EMAIL_ADDRESS"},
    [BELT_PII_PHONE] = {"phone", "PHONE", "PHONE_NUMBER"},
    [BELT_PII_CREDIT_CARD] = {"card", "CARD", "CREDIT_CARD"},
    [BELT_PII_IBAN] = {"iban", "IBAN", "IBAN_CODE"},
    [BELT_PII_US_SSN] = {"ssn", "SSN", "US_SSN"},
    [BELT_PII_US_ITIN] = {"itin", "ITIN", "US_ITIN"},
    [BELT_PII_ABA_ROUTING] = {"routing", "ROUTING", "ABA_ROUTING_NUMBER"},
    [BELT_PII_US_BANK_NUMBER] = {"bank_account", "BANK_ACCOUNT", "US_BANK_NUMBER"},
    [BELT_PII_IP_ADDRESS] = {"ip", "IP", "IP_ADDRESS"},
    [BELT_PII_MAC_ADDRESS] = {"mac", "MAC", "MAC_ADDRESS"},
    [BELT_PII_URL] = {"url", "URL", "URL"},
    [BELT_PII_CRYPTO] = {"crypto", "CRYPTO", "CRYPTO"},
    [BELT_PII_UK_NHS] = {"nhs", "NHS", "UK_NHS"},
    [BELT_PII_US_PASSPORT] = {"passport", "PASSPORT", "US_PASSPORT"},
    [BELT_PII_US_DRIVER_LICENSE] = {"driver_license", "DRIVER_LICENSE", "US_DRIVER_LICENSE"},
};

size_t belt_pii_n_entities(void)
{
    return BELT_ARRAY_LEN(entity_names);
}

uint32_t belt__pii_all_mask(void)
{
    return (1u << BELT_ARRAY_LEN(entity_names)) - 1;
}

uint32_t belt__pii_default_mask(void)
{
    return belt__pii_all_mask() & ~(1u << BELT_PII_URL);
}

const char *belt_pii_entity_name(enum belt_pii_entity e)
{
    return (size_t)e < BELT_ARRAY_LEN(entity_names) ? entity_names[e].name : NULL;
}

const char *belt_pii_entity_tag(enum belt_pii_entity e)
{
    return (size_t)e < BELT_ARRAY_LEN(entity_names) ? entity_names[e].tag : NULL;
}

const char *belt_pii_entity_presidio(enum belt_pii_entity e)
{
    return (size_t)e < BELT_ARRAY_LEN(entity_names) ? entity_names[e].presidio : NULL;
}

int belt_pii_entity_parse(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < BELT_ARRAY_LEN(entity_names); i++) {
        const struct entity_names *n = &entity_names[i];
        if (strcasecmp(name, n->name) == 0 || strcasecmp(name, n->tag) == 0 ||
            strcasecmp(name, n->presidio) == 0)
            return (int)i;
    }
    return -1;
}

/* ---- validators ------------------------------------------------------------------------------ */

/* A candidate under validation: the text and the span, which a validator may narrow. */
struct cand {
    const char *text; /* whole text */
    size_t len;       /* its length */
    size_t start;     /* span start */
    size_t end;       /* span end */
};

/* Returns the candidate's score (the row's base score passed in), or < 0 to reject it. */
typedef double validate_fn(struct cand *c, double base);

static int is_alnum(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static size_t span_digits(const struct cand *c, char *out, size_t cap)
{
    return belt__pii_digits(c->text + c->start, c->end - c->start, out, cap);
}

/* 1 if every non-digit separator in the span is the same character (or there is none). */
static int same_separators(const struct cand *c)
{
    char sep = 0;
    for (size_t i = c->start; i < c->end; i++) {
        char ch = c->text[i];
        if (ch >= '0' && ch <= '9')
            continue;
        if (sep && ch != sep)
            return 0;
        sep = ch;
    }
    return 1;
}

static double v_email(struct cand *c, double base)
{
    const char *s = c->text + c->start;
    size_t n = c->end - c->start;
    size_t dot = n;
    while (dot > 0 && s[dot - 1] != '.')
        dot--;
    if (dot == 0)
        return -1;
    char tld[64];
    size_t tn = n - dot;
    if (tn >= sizeof(tld))
        return -1;
    for (size_t i = 0; i < tn; i++)
        tld[i] = (char)(s[dot + i] | 0x20);
    return belt__pii_tld(tld, tn, 0) ? base : -1;
}

/* Trim trailing punctuation a sentence adds to a URL; keep a ')' that closes a '(' inside. */
static void url_trim(struct cand *c)
{
    for (;;) {
        char ch = c->text[c->end - 1];
        if (ch == ')') {
            int open = 0;
            for (size_t i = c->start; i < c->end; i++)
                open += c->text[i] == '(' ? 1 : c->text[i] == ')' ? -1 : 0;
            if (open >= 0)
                break;
        } else if (!strchr(".,;:!?]}'\"*", ch)) {
            break;
        }
        c->end--;
    }
}

/* Check the host of a URL (from h, up to the first / ? # : or the end). */
static int url_host_ok(const char *h, size_t n, int strict)
{
    size_t hn = 0;
    while (hn < n && !strchr("/?#:", h[hn]))
        hn++;
    if (hn > 0 && h[0] == '[')
        return 1; /* [IPv6] */
    char host[256];
    if (hn == 0 || hn >= sizeof(host))
        return 0;
    for (size_t i = 0; i < hn; i++)
        host[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] | 0x20 : h[i]);
    host[hn] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return 1;
    const char *dot = strrchr(host, '.');
    if (!dot || dot == host)
        return 0;
    if (strict && (size_t)(dot - host) == 3 && memcmp(host, "www", 3) == 0)
        return 0; /* "www.microsoft": no registrable name */
    return belt__pii_tld(dot + 1, strlen(dot + 1), strict);
}

static double v_url_scheme(struct cand *c, double base)
{
    url_trim(c);
    const char *s = c->text + c->start;
    const char *host = strstr(s, "://");
    if (!host || (size_t)(host - s) >= c->end - c->start)
        return -1;
    host += 3;
    size_t n = c->end - (size_t)(host - c->text);
    /* Skip user:password@ */
    for (size_t i = 0; i < n && !strchr("/?#", host[i]); i++) {
        if (host[i] == '@') {
            host += i + 1;
            n -= i + 1;
            break;
        }
    }
    return url_host_ok(host, n, 0) ? base : -1;
}

static double v_url_bare(struct cand *c, double base)
{
    url_trim(c);
    return url_host_ok(c->text + c->start, c->end - c->start, 1) ? base : -1;
}

static int nanp_ok(const char *d)
{
    return d[0] >= '2' && d[3] >= '2';
}

/* Country calling codes (ITU E.164 assigned), as a lookup on the leading digits. */
static int country_code_len(const char *d, size_t n)
{
    static const char *const cc2[] = {
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"};
    if (n >= 1 && (d[0] == '1' || d[0] == '7'))
        return 1;
    for (size_t i = 0; n >= 2 && i < BELT_ARRAY_LEN(cc2); i++)
        if (d[0] == cc2[i][0] && d[1] == cc2[i][1])
            return 2;
    /* Every other assigned code has three digits: 21x-29x, 35x-38x, 42x, 50x, 59x, 67x-69x,
     * 8xx, 96x-99x (except the two-digit ones above). */
    if (n >= 3 && d[0] >= '2' && d[0] != '0')
        return 3;
    return 0;
}

/* 1 if the span looks like a dotted IPv4 address (so it is not a phone number). */
static int looks_ipv4(const struct cand *c)
{
    char buf[32];
    size_t n = c->end - c->start;
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, c->text + c->start, n);
    buf[n] = '\0';
    struct in_addr a;
    return inet_pton(AF_INET, buf, &a) == 1;
}

/* Fewest digits in a group after the first ("090-1234-5678" → 4; "078-05-1123" → 2). */
static size_t min_group_after_first(const char *s, size_t n)
{
    size_t best = (size_t)-1, run = 0, group = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            run++;
            continue;
        }
        if (run > 0 && group++ > 0)
            best = BELT_MIN(best, run);
        run = 0;
    }
    return best;
}

/* Score a phone-number candidate as it stands, or -1. */
static double phone_score(const struct cand *c, double base)
{
    char d[24];
    size_t nd = span_digits(c, d, sizeof(d));
    const char *s = c->text + c->start;
    size_t n = c->end - c->start;
    int plus = s[0] == '+';
    int paren = memchr(s, '(', n) != NULL;
    size_t n_sep = 0;
    for (size_t i = 0; i < n; i++)
        n_sep += (s[i] == ' ' || s[i] == '-' || s[i] == '.');
    if (nd < 7 || nd > 15 || looks_ipv4(c))
        return -1;
    if (plus) {
        int ccl = country_code_len(d, nd);
        return ccl > 0 && nd - (size_t)ccl >= 6 && nd - (size_t)ccl <= 12 ? base + 0.1 : -1;
    }
    if (nd == 10 && nanp_ok(d) && (paren || n_sep >= 2))
        return base;
    if (nd == 11 && d[0] == '1' && nanp_ok(d + 1) && n_sep >= 2)
        return base;
    if (nd == 10 && nanp_ok(d) && n_sep == 0)
        return base - 0.2; /* bare ten digits: weak */
    if (d[0] == '0' && nd >= 9 && nd <= 11 && n_sep >= 1 && min_group_after_first(s, n) >= 3)
        return base - 0.2; /* national format with trunk prefix (09-7625400, 090-1234-5678) */
    if (nd == 11 && d[0] == '1' && d[1] >= '3' && n_sep == 0)
        return base - 0.2; /* mobile numbers of the 1[3-9] plan (China) */
    if (n_sep >= 2 && nd >= 11 && nd <= 13) {
        int ccl = country_code_len(d, nd);
        size_t g1 = strcspn(s, " -.");
        if (ccl > 0 && g1 == (size_t)ccl)
            return base - 0.1; /* international without '+' (91-415-555-0132) */
    }
    return -1;
}

/* Phone candidates may swallow a following number: retry without trailing groups. */
static double v_phone(struct cand *c, double base)
{
    while (c->end > c->start) {
        double sc = phone_score(c, base);
        if (sc >= 0)
            return sc;
        size_t e = c->end;
        while (e > c->start && c->text[e - 1] >= '0' && c->text[e - 1] <= '9')
            e--;
        while (e > c->start && strchr(" .-", c->text[e - 1]))
            e--;
        if (e == c->end || e <= c->start || c->text[e - 1] == '(' || c->text[e - 1] == '+')
            return -1;
        c->end = e;
    }
    return -1;
}

static double v_card(struct cand *c, double base)
{
    char d[24];
    size_t nd = span_digits(c, d, sizeof(d));
    if (nd < 12 || nd > 19 || !same_separators(c) || !belt__pii_luhn(d, nd))
        return -1;
    if (nd == 13 && d[0] == '1')
        return -1; /* a Unix time in milliseconds, not a card */
    int same = 1;
    for (size_t i = 1; i < nd; i++)
        same &= d[i] == d[0];
    if (same)
        return -1;
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int known = d[0] == '4' || (p2 >= 51 && p2 <= 55) || p2 == 34 || p2 == 37 || p2 == 35 ||
                p2 == 30 || p2 == 36 || p2 == 38 || p2 == 62 || p2 == 65 ||
                memcmp(d, "6011", 4) == 0 || (p2 >= 22 && p2 <= 27);
    return known ? base : base - 0.3;
}

static double v_iban(struct cand *c, double base)
{
    /* The pattern may run past the IBAN into following words: cut at the country's length. */
    size_t want = belt__pii_iban_len(c->text + c->start);
    if (!want)
        return -1;
    size_t k = 0, i = c->start;
    for (; i < c->end && k < want; i++)
        if (c->text[i] != ' ' && c->text[i] != '-')
            k++;
    if (k != want)
        return -1;
    if (i < c->len && is_alnum(c->text[i]))
        return -1;
    c->end = i;
    return belt__pii_iban(c->text + c->start, c->end - c->start) ? base : -1;
}

static double v_ssn(struct cand *c, double base)
{
    char d[12];
    if (span_digits(c, d, sizeof(d)) != 9 || !same_separators(c))
        return -1;
    return belt__pii_ssn(d) ? base : -1;
}

static double v_itin(struct cand *c, double base)
{
    char d[12];
    if (span_digits(c, d, sizeof(d)) != 9 || !same_separators(c))
        return -1;
    return belt__pii_itin(d) ? base : -1;
}

static double v_aba(struct cand *c, double base)
{
    char d[12];
    if (span_digits(c, d, sizeof(d)) != 9)
        return -1;
    return belt__pii_aba(d) ? base : -1;
}

static double v_nhs(struct cand *c, double base)
{
    char d[12];
    if (span_digits(c, d, sizeof(d)) != 10 || !same_separators(c))
        return -1;
    return belt__pii_nhs(d) ? base : -1;
}

static double v_mac(struct cand *c, double base)
{
    int zero = 1, ff = 1;
    for (size_t i = c->start; i < c->end; i++) {
        char ch = c->text[i];
        if (strchr(":-.", ch))
            continue;
        zero &= ch == '0';
        ff &= ch == 'f' || ch == 'F';
    }
    return zero || ff ? -1 : base;
}

static double v_base58(struct cand *c, double base)
{
    return belt__pii_base58check(c->text + c->start, c->end - c->start) ? base : -1;
}

static double v_bech32(struct cand *c, double base)
{
    char low[96];
    size_t n = c->end - c->start;
    if (n >= sizeof(low))
        return -1;
    int upper = 0, lower = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = c->text[c->start + i];
        upper |= ch >= 'A' && ch <= 'Z';
        lower |= ch >= 'a' && ch <= 'z';
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : ch;
    }
    if (upper && lower)
        return -1; /* bech32 forbids mixed case */
    return belt__pii_bech32(low, n) ? base : -1;
}

static double v_ipv4(struct cand *c, double base)
{
    return looks_ipv4(c) ? base : -1;
}

/* The longest prefix of the candidate that is an IPv6 address and ends on a boundary; a zone
 * ("%eth0") directly after it is kept. */
static double v_ipv6(struct cand *c, double base)
{
    char buf[64];
    size_t n = c->end - c->start;
    const char *s = c->text + c->start;
    size_t zone = n;
    const char *pct = memchr(s, '%', n);
    if (pct)
        zone = (size_t)(pct - s);
    for (size_t k = BELT_MIN(zone, sizeof(buf) - 1); k >= 2; k--) {
        if (!memchr(s, ':', k))
            break;
        size_t after = c->start + k;
        char nx = after < c->len ? c->text[after] : '\0';
        if (is_alnum(nx) || nx == ':')
            continue;
        if (nx == '.' && after + 1 < c->len && c->text[after + 1] >= '0' &&
            c->text[after + 1] <= '9')
            continue;
        if (nx == '%' && k != zone)
            continue;
        memcpy(buf, s, k);
        buf[k] = '\0';
        struct in6_addr a;
        if (inet_pton(AF_INET6, buf, &a) != 1)
            continue;
        c->end = (k == zone && pct) ? c->end : after;
        return base;
    }
    return -1;
}

/* ---- the detector table ---------------------------------------------------------------------- */

static const char *const ctx_email[] = {"email", "e-mail", "mail", "contact", NULL};
static const char *const ctx_phone[] = {"phone",     "mobile",   "cell", "tel",
                                        "telephone", "call",     "fax",  "number",
                                        "contact",   "whatsapp", NULL};
static const char *const ctx_card[] = {"card", "credit",  "debit", "visa", "mastercard",
                                       "amex", "payment", "cc",    NULL};
static const char *const ctx_iban[] = {"iban", "bank", "account", "transfer", "sepa", NULL};
static const char *const ctx_ssn[] = {"ssn", "social security", "social", "security number", "ssa",
                                      NULL};
static const char *const ctx_itin[] = {"itin", "tax", "taxpayer", "tin", "irs", NULL};
static const char *const ctx_aba[] = {"routing", "aba", "transit", "bank", "rtn", "wire", NULL};
static const char *const ctx_bank[] = {"bank",    "account", "acct", "checking",
                                       "savings", "deposit", NULL};
static const char *const ctx_ip[] = {"ip", "address", "ipv4", "ipv6", "host", "server", NULL};
static const char *const ctx_mac[] = {"mac",  "hardware", "ethernet", "physical",
                                      "wifi", "bssid",    NULL};
static const char *const ctx_url[] = {"url", "link", "website", "site", "domain", NULL};
static const char *const ctx_crypto[] = {"wallet", "bitcoin", "btc", "crypto", "address", NULL};
static const char *const ctx_nhs[] = {"nhs", "health", "national health", "patient", NULL};
static const char *const ctx_passport[] = {"passport", "travel document", "passport number", NULL};
static const char *const ctx_dl[] = {"driver", "license", "licence", "driving",
                                     "dl",     "permit",  NULL};

#define DIGITS "0123456789"

struct detector {
    enum belt_pii_entity entity; /* what it finds */
    const char *pattern;         /* PCRE2 (byte mode) */
    uint32_t options;            /* compile options (PCRE2_CASELESS) */
    const char *need;            /* the text must contain one of these bytes (prefilter) */
    validate_fn *validate;       /* checksum/ranges; NULL: the pattern is enough */
    const char *const *context;  /* words that raise the score nearby */
    double score;                /* base score */
    double boost;                /* added when a context word is near */
};

static const struct detector detectors[] = {
    {BELT_PII_EMAIL,
     "(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
     "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9-]{2,63}(?![A-Za-z0-9-])",
     0, "@", v_email, ctx_email, 1.0, 0},
    {BELT_PII_PHONE,
     "(?<![0-9+])(?:\\+ ?[0-9]{1,3}|\\([0-9]{1,4}\\)|[0-9]{1,5})"
     "(?:[ .-]?(?:\\([0-9]{1,4}\\)|[0-9]{1,5})){1,6}(?![0-9])",
     0, DIGITS, v_phone, ctx_phone, 0.6, 0.3},
    {BELT_PII_CREDIT_CARD,
     "(?<![0-9.-])[13-6][0-9]{3}(?:[ -]?[0-9]{3,4}){2}[ -]?[0-9]{1,7}(?![0-9-])", 0, DIGITS, v_card,
     ctx_card, 1.0, 0},
    {BELT_PII_IBAN, "(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]){11,30}", 0, DIGITS, v_iban,
     ctx_iban, 1.0, 0},
    {BELT_PII_US_SSN, "(?<![0-9])[0-9]{3}([- .])[0-9]{2}\\1[0-9]{4}(?![0-9])", 0, DIGITS, v_ssn,
     ctx_ssn, 0.5, 0.4},
    {BELT_PII_US_SSN, "(?<![0-9-])(?:[0-9]{5}-[0-9]{4}|[0-9]{3}-[0-9]{6})(?![0-9-])", 0, DIGITS,
     v_ssn, ctx_ssn, 0.1, 0.4},
    {BELT_PII_US_SSN, "(?<![0-9])[0-9]{9}(?![0-9])", 0, DIGITS, v_ssn, ctx_ssn, 0.05, 0.5},
    {BELT_PII_US_ITIN, "(?<![0-9])9[0-9]{2}([- ]?)[0-9]{2}\\1[0-9]{4}(?![0-9])", 0, DIGITS, v_itin,
     ctx_itin, 0.5, 0.4},
    {BELT_PII_US_ITIN, "(?<![0-9-])(?:9[0-9]{4}-[0-9]{4}|9[0-9]{2}-[0-9]{6})(?![0-9-])", 0, DIGITS,
     v_itin, ctx_itin, 0.3, 0.4},
    {BELT_PII_ABA_ROUTING, "(?<![0-9-])[0-9]{4}-[0-9]{4}-[0-9](?![0-9-])", 0, DIGITS, v_aba,
     ctx_aba, 0.4, 0.4},
    {BELT_PII_ABA_ROUTING, "(?<![0-9])[0-9]{9}(?![0-9])", 0, DIGITS, v_aba, ctx_aba, 0.3, 0.5},
    {BELT_PII_US_BANK_NUMBER, "(?<![A-Za-z0-9])[0-9]{8,17}(?![A-Za-z0-9])", 0, DIGITS, NULL,
     ctx_bank, 0.05, 0.5},
    {BELT_PII_IP_ADDRESS, "(?<![A-Za-z0-9.])(?:[0-9]{1,3}\\.){3}[0-9]{1,3}(?![A-Za-z0-9])", 0, ".",
     v_ipv4, ctx_ip, 0.6, 0.2},
    {BELT_PII_IP_ADDRESS, "(?<![A-Za-z0-9:.])[0-9A-Fa-f:][0-9A-Fa-f:.]{1,44}(?:%[A-Za-z0-9]+)?", 0,
     ":", v_ipv6, ctx_ip, 0.6, 0.2},
    {BELT_PII_MAC_ADDRESS,
     "(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\\1){4}[0-9A-Fa-f]{2}"
     "(?![0-9A-Fa-f:-])",
     0, ":-", v_mac, ctx_mac, 0.6, 0.3},
    {BELT_PII_MAC_ADDRESS,
     "(?<![0-9A-Fa-f.])[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}"
     "(?![0-9A-Fa-f.])",
     0, ".", v_mac, ctx_mac, 0.5, 0.3},
    {BELT_PII_URL, "(?<![A-Za-z0-9])(?:https?|ftp)://[^\\s<>\"'`]+", PCRE2_CASELESS, ":",
     v_url_scheme, ctx_url, 0.6, 0.2},
    {BELT_PII_URL,
     "(?<![A-Za-z0-9@._/:-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}"
     "(?::[0-9]{2,5})?(?:/[^\\s<>\"'`]*)?(?![A-Za-z0-9@_-])",
     PCRE2_CASELESS, ".", v_url_bare, ctx_url, 0.5, 0.2},
    {BELT_PII_CRYPTO, "(?<![A-Za-z0-9])[13][a-km-zA-HJ-NP-Z1-9]{25,34}(?![A-Za-z0-9])", 0, "13",
     v_base58, ctx_crypto, 1.0, 0},
    {BELT_PII_CRYPTO, "(?<![A-Za-z0-9])(?:bc|tb)1[ac-hj-np-z02-9]{8,87}(?![A-Za-z0-9])",
     PCRE2_CASELESS, "1", v_bech32, ctx_crypto, 1.0, 0},
    {BELT_PII_UK_NHS, "(?<![0-9])[0-9]{3}([- ]?)[0-9]{3}\\1[0-9]{4}(?![0-9])", 0, DIGITS, v_nhs,
     ctx_nhs, 0.5, 0.4},
    {BELT_PII_US_PASSPORT, "(?<![A-Za-z0-9])[A-Z][0-9]{8}(?![A-Za-z0-9])", 0, DIGITS, NULL,
     ctx_passport, 0.1, 0.5},
    {BELT_PII_US_PASSPORT, "(?<![A-Za-z0-9])[0-9]{9}(?![A-Za-z0-9])", 0, DIGITS, NULL, ctx_passport,
     0.05, 0.5},
    {BELT_PII_US_DRIVER_LICENSE, "(?<![A-Za-z0-9])[A-Z]{1,2}[0-9]{3,11}(?![A-Za-z0-9])", 0, DIGITS,
     NULL, ctx_dl, 0.3, 0.4},
    {BELT_PII_US_DRIVER_LICENSE, "(?<![A-Za-z0-9])[0-9]{6,14}(?![A-Za-z0-9])", 0, DIGITS, NULL,
     ctx_dl, 0.01, 0.5},
};

/* ---- compile --------------------------------------------------------------------------------- */

struct belt_pii {
    struct belt_pii_params params;               /* as given (entities resolved) */
    pcre2_general_context *gctx;                 /* allocation through belt_malloc */
    pcre2_code *code[BELT_ARRAY_LEN(detectors)]; /* NULL for detectors not enabled */
    uint32_t max_ovector;                        /* largest capture count + 1 */
};

static void *pcre_alloc(PCRE2_SIZE n, void *ud)
{
    (void)ud;
    return belt_malloc(n);
}

static void pcre_free(void *p, void *ud)
{
    (void)ud;
    belt_free(p);
}

struct belt_pii_params belt_pii_default_params(void)
{
    struct belt_pii_params p = {0};
    p.entities = 0;
    p.min_score = 0.5;
    p.max_matches = 10000;
    return p;
}

void belt_pii_free(struct belt_pii *pii)
{
    if (!pii)
        return;
    for (size_t i = 0; i < BELT_ARRAY_LEN(detectors); i++)
        pcre2_code_free(pii->code[i]);
    pcre2_general_context_free(pii->gctx);
    belt_free(pii);
}

belt_status belt_pii_new(const struct belt_pii_params *p, struct belt_pii **out,
                         struct belt_error *err)
{
    *out = NULL;
    struct belt_pii_params d = belt_pii_default_params();
    if (!p)
        p = &d;
    if (p->min_score < 0 || p->min_score > 1 || (p->entities & ~belt__pii_all_mask()))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "pii: min_score must be in [0, 1] and entities known");
    struct belt_pii *pii = belt_calloc(1, sizeof(*pii));
    if (!pii)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    pii->params = *p;
    if (!pii->params.entities)
        pii->params.entities = belt__pii_all_mask();
    if (!pii->params.max_matches)
        pii->params.max_matches = d.max_matches;
    pii->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    pcre2_compile_context *cctx = pii->gctx ? pcre2_compile_context_create(pii->gctx) : NULL;
    belt_status st = BELT_OK;
    if (!cctx) {
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < BELT_ARRAY_LEN(detectors); i++) {
        if (!(pii->params.entities & (1u << detectors[i].entity)))
            continue;
        int ec = 0;
        PCRE2_SIZE eo = 0;
        pii->code[i] = pcre2_compile((PCRE2_SPTR)detectors[i].pattern, PCRE2_ZERO_TERMINATED,
                                     detectors[i].options, &ec, &eo, cctx);
        if (!pii->code[i]) {
            char msg[120];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof(msg));
            st = belt__error_set(err,
                                 (ec == PCRE2_ERROR_NOMEMORY || ec == PCRE2_ERROR_HEAP_FAILED)
                                     ? BELT_ERR_NOMEM
                                     : BELT_ERR_INTERNAL,
                                 ec, "pii: detector %zu (%s) at offset %zu: %s", i,
                                 entity_names[detectors[i].entity].name, (size_t)eo, msg);
            goto fail;
        }
        pcre2_jit_compile(pii->code[i], PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        uint32_t cap = 0;
        pcre2_pattern_info(pii->code[i], PCRE2_INFO_CAPTURECOUNT, &cap);
        pii->max_ovector = BELT_MAX(pii->max_ovector, cap + 1);
    }
    pcre2_compile_context_free(cctx);
    *out = pii;
    return BELT_OK;
fail:
    pcre2_compile_context_free(cctx);
    belt_pii_free(pii);
    return st;
}

/* ---- scan ------------------------------------------------------------------------------------ */

struct match_list {
    struct belt_pii_match *v; /* owned */
    size_t n, cap;            /* used / allocated */
    size_t max;               /* limit */
};

static belt_status push_match(struct match_list *l, const struct belt_pii_match *m,
                              struct belt_error *err)
{
    if (l->n >= l->max * 4 + 64)
        return belt__error_set(err, BELT_ERR_TOOBIG, 0, "pii: more than %zu candidates", l->n);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct belt_pii_match *v = belt_realloc(l->v, cap * sizeof(*v));
        if (!v)
            return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *m;
    return BELT_OK;
}

/* 1 if one of the context words occurs as a word within the window around [start, end). */
static int context_near(const char *text, size_t len, size_t start, size_t end,
                        const char *const *words)
{
    char win[160];
    size_t a = start > 64 ? start - 64 : 0;
    size_t b = BELT_MIN(len, end + 32);
    size_t k = 0;
    for (size_t i = a; i < b && k < sizeof(win) - 1; i++) {
        if (i >= start && i < end) {
            if (k == 0 || win[k - 1] != ' ')
                win[k++] = ' '; /* the value itself never counts as context */
            continue;
        }
        char ch = text[i];
        win[k++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : ch;
    }
    win[k] = '\0';
    for (size_t w = 0; words[w]; w++) {
        size_t wl = strlen(words[w]);
        for (const char *p = strstr(win, words[w]); p; p = strstr(p + 1, words[w])) {
            int left = p == win || !is_alnum(p[-1]);
            int right = !is_alnum(p[wl]) || p[wl] == 's'; /* plural */
            if (left && right)
                return 1;
        }
    }
    return 0;
}

static belt_status run_detector(const struct belt_pii *pii, size_t di, pcre2_match_data *md,
                                const char *text, size_t len, struct match_list *l,
                                struct belt_error *err)
{
    const struct detector *d = &detectors[di];
    PCRE2_SIZE off = 0;
    while (off <= len) {
        int rc = pcre2_match(pii->code[di], (PCRE2_SPTR)text, len, off, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            return belt__error_set(err,
                                   rc == PCRE2_ERROR_NOMEMORY ? BELT_ERR_NOMEM : BELT_ERR_INTERNAL,
                                   rc, "pii: match error %d in detector %zu", rc, di);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        struct cand c = {text, len, ov[0], ov[1]};
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        double score = d->validate ? d->validate(&c, d->score) : d->score;
        if (score < 0 || c.end <= c.start)
            continue;
        if (d->boost > 0 && context_near(text, len, c.start, c.end, d->context))
            score += d->boost;
        struct belt_pii_match m = {d->entity, c.start, c.end, BELT_MIN(score, 1.0)};
        if (m.score < pii->params.min_score)
            continue;
        belt_status st = push_match(l, &m, err);
        if (st != BELT_OK)
            return st;
    }
    return BELT_OK;
}

static int by_strength(const void *a, const void *b)
{
    const struct belt_pii_match *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    size_t lx = x->end - x->start, ly = y->end - y->start;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (int)x->entity - (int)y->entity;
}

static int by_start(const void *a, const void *b)
{
    const struct belt_pii_match *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Keep the strongest of overlapping matches (claimed bytes marked in a bitmap of the text);
 * result sorted by start. */
static belt_status resolve_overlaps(struct belt_pii_match *v, size_t *n, size_t len,
                                    struct belt_error *err)
{
    unsigned char *taken = belt_calloc(len / 8 + 1, 1);
    if (!taken)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    qsort(v, *n, sizeof(*v), by_strength);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        int clash = 0;
        for (size_t b = v[i].start; b < v[i].end && !clash; b++)
            clash = taken[b / 8] & (1u << (b % 8));
        if (clash)
            continue;
        for (size_t b = v[i].start; b < v[i].end; b++)
            taken[b / 8] |= (unsigned char)(1u << (b % 8));
        v[kept++] = v[i];
    }
    belt_free(taken);
    qsort(v, kept, sizeof(*v), by_start);
    *n = kept;
    return BELT_OK;
}

belt_status belt_pii_scan(const struct belt_pii *pii, const char *text, size_t len,
                          struct belt_pii_match **out, size_t *n_out, struct belt_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (len == 0)
        return BELT_OK;
    unsigned char present[256] = {0};
    for (size_t i = 0; i < len; i++)
        present[(unsigned char)text[i]] = 1;
    pcre2_match_data *md = pcre2_match_data_create(pii->max_ovector, pii->gctx);
    if (!md)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    struct match_list l = {NULL, 0, 0, pii->params.max_matches};
    belt_status st = BELT_OK;
    for (size_t i = 0; i < BELT_ARRAY_LEN(detectors) && st == BELT_OK; i++) {
        if (!pii->code[i])
            continue;
        int any = 0;
        for (const char *p = detectors[i].need; *p && !any; p++)
            any = present[(unsigned char)*p];
        if (any)
            st = run_detector(pii, i, md, text, len, &l, err);
    }
    pcre2_match_data_free(md);
    if (st == BELT_OK && l.n > 0)
        st = resolve_overlaps(l.v, &l.n, len, err);
    if (st == BELT_OK) {
        if (l.n > l.max)
            st = belt__error_set(err, BELT_ERR_TOOBIG, 0, "pii: more than %zu matches", l.max);
    }
    if (st != BELT_OK || l.n == 0) {
        belt_free(l.v);
        return st;
    }
    *out = l.v;
    *n_out = l.n;
    return BELT_OK;
}
