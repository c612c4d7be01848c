/*
 * inject_prefilter.c — required literals of a PCRE2 pattern, and an Aho–Corasick automaton
 * over the literals of all rules (see inject_prefilter.h).
 *
 * Literal extraction is the classic prefilter analysis (as in RE2's prefilter or Russ Cox's
 * trigram index), reduced to one "any of" set per pattern. Every node of the pattern gets:
 *   exact — the finite set of strings the node matches, when small enough to enumerate;
 *   req   — a set such that every match of the node contains one of its strings.
 * A literal is exact {c}; a small class is exact {members}; an anchor, \b or a look-around is
 * exact {""}; an alternation unions both; a sequence multiplies adjacent exact sets while they
 * stay small and keeps the most selective set seen (longest shortest string, then fewest
 * strings) as its req; x? adds "" to exact; x* / x{0,n} / negated classes / \w / . are
 * unknown. The pattern's set is its req (or its exact set when that has no empty string).
 * Whatever the analysis does not understand makes the rule unfiltered, never wrong.
 */
#include "belt_config.h"

#include <stdlib.h>
#include <string.h>

#include "guard/inject_prefilter.h"
#include "util/arena.h"
#include "util/utf8.h"

/* ---- string sets ------------------------------------------------------------------------------
 */

#define LIT_MAX 48  /* longest string an exact set keeps, NUL included */
#define SET_MAX 512 /* largest exact or required set */

struct sset {
    int ok;             /* 1: the set is known */
    size_t n;           /* strings */
    size_t cap;         /* room in v */
    size_t min;         /* shortest string length (valid when n > 0) */
    char (*v)[LIT_MAX]; /* in the analysis arena (cur_arena) */
};

enum { S_OK = 0, S_BIG = 1, S_OOM = -1 };

/* Forget the set (its memory belongs to the arena, released with it). */
static void sset_free(struct sset *s)
{
    memset(s, 0, sizeof(*s));
}

/* The arena every set of one analysis lives in: set by belt__inject_required_literals for the
 * duration of the call (per thread, so guards may be built concurrently). */
static _Thread_local struct belt_arena *cur_arena;

/* Add s[0..n) (duplicates are kept: they cost a little room and are dropped on export).
 * S_BIG when the set or the string is too large. */
static int sset_add(struct sset *s, const char *str, size_t n)
{
    if (n >= LIT_MAX)
        return S_BIG;
    if (s->n >= SET_MAX)
        return S_BIG;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char(*v)[LIT_MAX] = belt_arena_alloc(cur_arena, cap * sizeof(*v));
        if (!v)
            return S_OOM;
        if (s->n)
            memcpy(v, s->v, s->n * sizeof(*v));
        s->v = v;
        s->cap = cap;
    }
    memcpy(s->v[s->n], str, n);
    s->v[s->n][n] = '\0';
    s->min = s->n == 0 ? n : BELT_MIN(s->min, n);
    s->n++;
    return S_OK;
}

/* out = {""}. */
static int sset_epsilon(struct sset *out)
{
    memset(out, 0, sizeof(*out));
    out->ok = 1;
    return sset_add(out, "", 0);
}

static int sset_copy(struct sset *out, const struct sset *in)
{
    memset(out, 0, sizeof(*out));
    out->ok = in->ok;
    for (size_t i = 0; i < in->n; i++) {
        int rc = sset_add(out, in->v[i], strlen(in->v[i]));
        if (rc != S_OK)
            return rc;
    }
    return S_OK;
}

/* a := a ∪ b. */
static int sset_union(struct sset *a, const struct sset *b)
{
    for (size_t i = 0; i < b->n; i++) {
        int rc = sset_add(a, b->v[i], strlen(b->v[i]));
        if (rc != S_OK)
            return rc;
    }
    return S_OK;
}

/* out := a × b (every concatenation). */
static int sset_product(const struct sset *a, const struct sset *b, struct sset *out)
{
    memset(out, 0, sizeof(*out));
    out->ok = 1;
    if (a->n * b->n > SET_MAX)
        return S_BIG;
    for (size_t i = 0; i < a->n; i++) {
        size_t la = strlen(a->v[i]);
        for (size_t j = 0; j < b->n; j++) {
            size_t lb = strlen(b->v[j]);
            if (la + lb >= LIT_MAX)
                return S_BIG;
            char tmp[LIT_MAX];
            memcpy(tmp, a->v[i], la);
            memcpy(tmp + la, b->v[j], lb);
            int rc = sset_add(out, tmp, la + lb);
            if (rc != S_OK)
                return rc;
        }
    }
    return S_OK;
}

/* Shortest string length; 0 when the set holds "" (then it requires nothing). */
static size_t sset_minlen(const struct sset *s)
{
    return s->n ? s->min : 0;
}

/* 1 if a is a more selective requirement than b (b may be unknown): the longer shortest
 * string wins up to 6 bytes (beyond that, words are rare enough), then fewer strings.
 * Measured on the shared data and generated texts: capping at 6 rather than 4 runs PCRE2 on
 * fewer candidates (17 vs 24 us per text) for a larger automaton. */
static int sset_better(const struct sset *a, const struct sset *b)
{
    if (!a->ok || sset_minlen(a) == 0)
        return 0;
    if (!b->ok || sset_minlen(b) == 0)
        return 1;
    size_t la = BELT_MIN(sset_minlen(a), (size_t)6), lb = BELT_MIN(sset_minlen(b), (size_t)6);
    return la != lb ? la > lb : a->n < b->n;
}

/* ---- pattern analysis -------------------------------------------------------------------------
 */

struct info {
    struct sset exact; /* strings the node matches exactly (ok = 0: unknown) */
    struct sset req;   /* one of these occurs in every match (ok = 0: nothing known) */
};

struct parser {
    const char *p, *end; /* cursor */
    int fail;            /* unsupported syntax: no literals for this pattern */
    int oom;             /* allocation failed */
};

static void info_free(struct info *x)
{
    sset_free(&x->exact);
    sset_free(&x->req);
}

/* Record the outcome of a set operation: S_BIG leaves the set unknown, S_OOM fails. */
static void settle(struct parser *ps, int rc, struct sset *s)
{
    if (rc == S_OOM)
        ps->oom = 1;
    if (rc != S_OK)
        sset_free(s);
}

/* The best requirement a node offers (a copy). */
static void pick(struct parser *ps, const struct info *x, struct sset *out)
{
    memset(out, 0, sizeof(*out));
    const struct sset *b = sset_better(&x->exact, &x->req) ? &x->exact : &x->req;
    if (!b->ok || sset_minlen(b) == 0)
        return;
    settle(ps, sset_copy(out, b), out);
}

/* Keep cand as *best when it is more selective; consumes cand. */
static void consider(struct sset *best, struct sset *cand)
{
    if (sset_better(cand, best)) {
        sset_free(best);
        *best = *cand;
        memset(cand, 0, sizeof(*cand));
    } else {
        sset_free(cand);
    }
}

static void parse_alt(struct parser *ps, struct info *out);

/* A literal code point (UTF-8) as exact {cp}. */
static void literal(struct parser *ps, const char *bytes, size_t n, struct info *out)
{
    memset(out, 0, sizeof(*out));
    out->exact.ok = 1;
    settle(ps, sset_add(&out->exact, bytes, n), &out->exact);
}

static void epsilon(struct parser *ps, struct info *out)
{
    memset(out, 0, sizeof(*out));
    settle(ps, sset_epsilon(&out->exact), &out->exact);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* After "\x": {HHHH} or up to two hex digits; -1 if malformed. */
static int32_t parse_hex_escape(struct parser *ps)
{
    int32_t v = 0;
    if (ps->p < ps->end && *ps->p == '{') {
        ps->p++;
        int digits = 0;
        while (ps->p < ps->end && *ps->p != '}' && hexval(*ps->p) >= 0 && digits < 6) {
            v = v * 16 + hexval(*ps->p++);
            digits++;
        }
        if (ps->p >= ps->end || *ps->p != '}' || digits == 0)
            return -1;
        ps->p++;
        return v;
    }
    for (int k = 0; k < 2 && ps->p < ps->end && hexval(*ps->p) >= 0; k++)
        v = v * 16 + hexval(*ps->p++);
    return v;
}

/* One escape after the backslash. Returns the code point of a literal, -2 for a zero-width
 * assertion, -3 for a character type (\w \s \d ...), -1 for unsupported syntax. */
static int32_t parse_escape(struct parser *ps, int in_class)
{
    if (ps->p >= ps->end)
        return -1;
    char e = *ps->p++;
    switch (e) {
    case 'b':
    case 'B':
    case 'A':
    case 'z':
    case 'Z':
    case 'G':
    case 'K':
        return in_class ? -1 : -2;
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
    case 'h':
    case 'H':
    case 'v':
    case 'V':
    case 'N':
    case 'R':
    case 'X':
    case 'C':
        return -3;
    case 'p':
    case 'P':
        if (ps->p < ps->end && *ps->p == '{') {
            while (ps->p < ps->end && *ps->p != '}')
                ps->p++;
            if (ps->p >= ps->end)
                return -1;
        }
        ps->p++;
        return -3;
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'f':
        return '\f';
    case 'e':
        return 0x1b;
    case 'a':
        return 0x07;
    case 'x':
        return parse_hex_escape(ps);
    default:
        /* Escaped punctuation is itself; letters and digits are other syntax. */
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
            return -1;
        return (unsigned char)e;
    }
}

/* One code point of the pattern at ps->p (UTF-8), or -1. */
static int32_t next_cp(struct parser *ps)
{
    size_t i = 0;
    int32_t cp = belt_utf8_next(ps->p, (size_t)(ps->end - ps->p), &i);
    ps->p += i;
    return cp;
}

/* A class member (code point), -3 for a type escape, -1 for unsupported. */
static int32_t class_member(struct parser *ps)
{
    if (*ps->p == '\\') {
        ps->p++;
        return parse_escape(ps, 1);
    }
    if (*ps->p == '[' && ps->p + 1 < ps->end && ps->p[1] == ':')
        return -1; /* POSIX class */
    return next_cp(ps);
}

/* After '[': a positive class of at most 32 code points becomes an exact set. */
static void parse_class(struct parser *ps, struct info *out)
{
    memset(out, 0, sizeof(*out));
    int negated = 0, unknown = 0, first = 1;
    if (ps->p < ps->end && *ps->p == '^') {
        negated = 1;
        ps->p++;
    }
    struct sset s;
    memset(&s, 0, sizeof(s));
    s.ok = 1;
    while (ps->p < ps->end && (first || *ps->p != ']')) {
        first = 0;
        int32_t lo = class_member(ps);
        if (lo == -1) {
            ps->fail = 1;
            break;
        }
        int32_t hi = lo;
        if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
            ps->p++;
            hi = class_member(ps);
            if (hi < 0 || lo < 0) {
                ps->fail = 1;
                break;
            }
        }
        if (lo < 0 || hi - lo >= 16) {
            unknown = 1;
            continue;
        }
        for (int32_t c = lo; c <= hi && s.ok; c++) {
            char enc[4];
            size_t n = belt_utf8_encode(c, enc);
            settle(ps, n ? sset_add(&s, enc, n) : S_BIG, &s);
        }
    }
    if (ps->p >= ps->end)
        ps->fail = 1;
    else
        ps->p++; /* ']' */
    if (negated || unknown || !s.ok || s.n > 32 || ps->fail)
        sset_free(&s);
    out->exact = s;
}

/* After '(': a group (its alternation), or a look-around (zero-width). */
static void parse_group(struct parser *ps, struct info *out)
{
    int zero_width = 0;
    if (ps->p < ps->end && *ps->p == '?') {
        const char *q = ps->p + 1;
        if (q < ps->end && (*q == ':' || *q == '>')) {
            ps->p = q + 1;
        } else if (q < ps->end && (*q == '=' || *q == '!')) {
            ps->p = q + 1;
            zero_width = 1;
        } else if (q + 1 < ps->end && *q == '<' && (q[1] == '=' || q[1] == '!')) {
            ps->p = q + 2;
            zero_width = 1;
        } else {
            ps->fail = 1; /* named groups, inline options, comments, conditionals, recursion */
            return;
        }
    }
    struct info inner;
    parse_alt(ps, &inner);
    if (ps->p >= ps->end || *ps->p != ')')
        ps->fail = 1;
    else
        ps->p++;
    if (zero_width) {
        info_free(&inner);
        epsilon(ps, out);
    } else {
        *out = inner;
    }
}

static void parse_atom(struct parser *ps, struct info *out)
{
    memset(out, 0, sizeof(*out));
    char c = *ps->p;
    if (c == '(') {
        ps->p++;
        parse_group(ps, out);
    } else if (c == '[') {
        ps->p++;
        parse_class(ps, out);
    } else if (c == '.') {
        ps->p++;
    } else if (c == '^' || c == '$') {
        ps->p++;
        epsilon(ps, out);
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        ps->fail = 1;
    } else if (c == '\\') {
        ps->p++;
        int32_t cp = parse_escape(ps, 0);
        char enc[4];
        size_t n = cp >= 0 ? belt_utf8_encode(cp, enc) : 0;
        if (cp == -2)
            epsilon(ps, out);
        else if (cp == -1 || (cp >= 0 && n == 0))
            ps->fail = 1;
        else if (cp >= 0)
            literal(ps, enc, n, out);
    } else {
        const char *at = ps->p;
        if (next_cp(ps) < 0)
            ps->fail = 1;
        else
            literal(ps, at, (size_t)(ps->p - at), out);
    }
}

/* A quantifier at ps->p: fills min/max (max -1 = unbounded); 0 if there is none. */
static int parse_quant(struct parser *ps, long *min, long *max)
{
    if (ps->p >= ps->end)
        return 0;
    char c = *ps->p;
    if (c == '?' || c == '*' || c == '+') {
        *min = c == '+';
        *max = c == '?' ? 1 : -1;
        ps->p++;
    } else if (c == '{') {
        const char *q = ps->p + 1;
        long a = 0, b = -1;
        int da = 0, db = 0;
        while (q < ps->end && *q >= '0' && *q <= '9' && da < 6)
            a = a * 10 + (*q++ - '0'), da++;
        if (q < ps->end && *q == ',') {
            q++;
            b = -1;
            if (q < ps->end && *q >= '0' && *q <= '9')
                b = 0;
            while (q < ps->end && *q >= '0' && *q <= '9' && db < 6)
                b = b * 10 + (*q++ - '0'), db++;
        } else {
            b = a;
        }
        if (!da || q >= ps->end || *q != '}') {
            ps->fail = 1;
            return 0;
        }
        ps->p = q + 1;
        *min = a;
        *max = b;
    } else {
        return 0;
    }
    if (ps->p < ps->end && (*ps->p == '?' || *ps->p == '+'))
        ps->p++; /* lazy or possessive: same strings */
    return 1;
}

/* x{min,max} from x. */
static void apply_quant(struct parser *ps, struct info *x, long min, long max)
{
    if (min == 1 && max == 1)
        return;
    struct info q;
    memset(&q, 0, sizeof(q));
    if (min == 0) {
        if (max == 1 && x->exact.ok) {
            settle(ps, sset_copy(&q.exact, &x->exact), &q.exact);
            if (q.exact.ok)
                settle(ps, sset_add(&q.exact, "", 0), &q.exact);
        }
    } else {
        pick(ps, x, &q.req);
        if (min == max && x->exact.ok && min <= 8) {
            settle(ps, sset_copy(&q.exact, &x->exact), &q.exact);
            for (long k = 1; k < min && q.exact.ok; k++) {
                struct sset p;
                int rc = sset_product(&q.exact, &x->exact, &p);
                sset_free(&q.exact);
                q.exact = p;
                settle(ps, rc, &q.exact);
            }
        }
    }
    info_free(x);
    *x = q;
}

/* A sequence up to '|', ')' or the end. */
static void parse_seq(struct parser *ps, struct info *out)
{
    memset(out, 0, sizeof(*out));
    struct sset cur, best;
    memset(&best, 0, sizeof(best));
    settle(ps, sset_epsilon(&cur), &cur);
    int all_exact = 1;
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')' && !ps->fail && !ps->oom) {
        struct info x;
        long min = 1, max = 1;
        parse_atom(ps, &x);
        if (!ps->fail && parse_quant(ps, &min, &max))
            apply_quant(ps, &x, min, max);
        struct sset xr; /* every item of a sequence is required on its own, too */
        pick(ps, &x, &xr);
        consider(&best, &xr);
        if (x.exact.ok && cur.ok) {
            struct sset p;
            int rc = sset_product(&cur, &x.exact, &p);
            if (rc == S_OK) {
                sset_free(&cur);
                cur = p;
                info_free(&x);
                continue;
            }
            sset_free(&p);
            if (rc == S_OOM)
                ps->oom = 1;
        }
        /* The run of exact strings ends here: it is one candidate, x's own set another. */
        all_exact = 0;
        consider(&best, &cur);
        if (x.exact.ok) {
            cur = x.exact;
            memset(&x.exact, 0, sizeof(x.exact));
        } else {
            settle(ps, sset_epsilon(&cur), &cur);
        }
        info_free(&x);
    }
    if (all_exact && cur.ok) {
        out->exact = cur;
        memset(&cur, 0, sizeof(cur));
    } else {
        consider(&best, &cur);
    }
    sset_free(&cur);
    out->req = best;
}

/* Branches separated by '|'. */
static void parse_alt(struct parser *ps, struct info *out)
{
    struct sset ex, rq;
    memset(&ex, 0, sizeof(ex));
    memset(&rq, 0, sizeof(rq));
    ex.ok = rq.ok = 1;
    for (;;) {
        struct info br;
        parse_seq(ps, &br);
        if (ex.ok)
            settle(ps, br.exact.ok ? sset_union(&ex, &br.exact) : S_BIG, &ex);
        struct sset r;
        pick(ps, &br, &r);
        if (rq.ok)
            settle(ps, r.ok ? sset_union(&rq, &r) : S_BIG, &rq);
        sset_free(&r);
        info_free(&br);
        if (ps->fail || ps->oom || ps->p >= ps->end || *ps->p != '|')
            break;
        ps->p++;
    }
    out->exact = ex;
    out->req = rq;
}

void belt__litset_free(struct belt__litset *s)
{
    if (!s)
        return;
    belt_free(s->v); /* one block: the pointers, then the strings */
    memset(s, 0, sizeof(*s));
}

/* Order for export: by length, then bytes (duplicates end up adjacent). */
static int cmp_lit(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

/* Copy the strings of best into out (one allocation), sorted, without duplicates and, in sets
 * of up to 64 strings, without strings that contain a shorter one (the shorter one is found
 * anyway; larger sets skip this quadratic step: a few more trie nodes cost nothing at scan
 * time). */
static belt_status export(const struct sset *best, struct belt__litset *out)
{
    const char *sorted[SET_MAX];
    unsigned char keep[SET_MAX];
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < best->n; i++)
        sorted[i] = best->v[i];
    qsort(sorted, best->n, sizeof(sorted[0]), cmp_lit);
    for (size_t i = 0; i < best->n; i++) {
        int drop = i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0;
        for (size_t j = 0; !drop && best->n <= 64 && j < i; j++)
            drop = strlen(sorted[j]) < strlen(sorted[i]) && strstr(sorted[i], sorted[j]) != NULL;
        keep[i] = !drop;
        n += keep[i];
        bytes += keep[i] ? strlen(sorted[i]) + 1 : 0;
    }
    char **v = belt_malloc(n * sizeof(char *) + bytes);
    if (!v)
        return BELT_ERR_NOMEM;
    char *p = (char *)(v + n);
    for (size_t i = 0, k = 0; i < best->n; i++) {
        if (!keep[i])
            continue;
        size_t len = strlen(sorted[i]) + 1;
        memcpy(p, sorted[i], len);
        v[k++] = p;
        p += len;
    }
    out->v = v;
    out->n = n;
    return BELT_OK;
}

belt_status belt__inject_required_literals(const char *pattern, struct belt__litset *out)
{
    memset(out, 0, sizeof(*out));
    struct belt_arena ar;
    belt_arena_init(&ar, 64 * 1024, 0);
    cur_arena = &ar;
    struct parser ps = {pattern, pattern + strlen(pattern), 0, 0};
    struct info top;
    parse_alt(&ps, &top);
    struct sset best;
    memset(&best, 0, sizeof(best));
    if (!ps.fail && !ps.oom && ps.p == ps.end)
        pick(&ps, &top, &best);
    belt_status st = ps.oom ? BELT_ERR_NOMEM : BELT_OK;
    if (st == BELT_OK && best.ok && best.n > 0)
        st = export(&best, out);
    cur_arena = NULL;
    belt_arena_deinit(&ar);
    return st;
}

/* ---- Aho–Corasick -----------------------------------------------------------------------------
 */

/* Build time: a trie node with its full output set, and sibling lists of edges. */
struct ac_bnode {
    uint32_t first;           /* first edge (after compact_edges: index into a->edges) */
    uint32_t n_edges;         /* outgoing edges (after compact_edges) */
    uint32_t fail;            /* failure link */
    int has_out;              /* out is not empty */
    struct belt__ac_hits out; /* rules whose literal ends here or at a suffix */
};

struct ac_bedge {
    unsigned char c; /* byte */
    uint32_t to;     /* child */
    uint32_t next;   /* next sibling (0 = none) */
};

/* Run time: 16 bytes a node; output sets are shared (most nodes have none, and the ones that
 * do repeat a few sets), which keeps the automaton of the default rules near 0.4 MB. */
struct ac_node {
    uint32_t first;   /* first edge in a->edges, sorted by byte */
    uint32_t n_edges; /* outgoing edges */
    uint32_t fail;    /* failure link */
    uint32_t out;     /* index into a->outs; 0 = none */
};

struct ac_edge {
    uint32_t to;     /* child */
    unsigned char c; /* byte */
};

struct belt__ac {
    struct ac_bnode *bnodes; /* build time; nodes[0] is the root; NULL once built */
    size_t n_nodes, cap_nodes;
    struct ac_bedge *bedges; /* build time; bedges[0] unused; NULL once built */
    size_t n_edges, cap_edges;
    struct ac_node *nodes;      /* run time (n_nodes) */
    struct ac_edge *edges;      /* run time (n_edges + 1), per node contiguous */
    struct belt__ac_hits *outs; /* distinct output sets; outs[0] unused */
    size_t n_outs;              /* including outs[0] */
    uint32_t root[256];         /* root transitions (0 = stay at the root) */
    int built;                  /* belt__ac_build done */
};

belt_status belt__ac_new(struct belt__ac **out)
{
    *out = NULL;
    struct belt__ac *a = belt_calloc(1, sizeof(*a));
    if (!a)
        return BELT_ERR_NOMEM;
    a->cap_nodes = 64;
    a->cap_edges = 64;
    a->bnodes = belt_calloc(a->cap_nodes, sizeof(*a->bnodes));
    a->bedges = belt_calloc(a->cap_edges, sizeof(*a->bedges));
    if (!a->bnodes || !a->bedges) {
        belt__ac_free(a);
        return BELT_ERR_NOMEM;
    }
    a->n_nodes = 1;
    a->n_edges = 1;
    *out = a;
    return BELT_OK;
}

void belt__ac_free(struct belt__ac *a)
{
    if (!a)
        return;
    belt_free(a->bnodes);
    belt_free(a->bedges);
    belt_free(a->nodes);
    belt_free(a->edges);
    belt_free(a->outs);
    belt_free(a);
}

/* Build time: the child of node on byte c, or 0 (the root's children are in a->root). */
static uint32_t build_child(const struct belt__ac *a, uint32_t node, unsigned char c)
{
    if (node == 0)
        return a->root[c];
    for (uint32_t e = a->bnodes[node].first; e; e = a->bedges[e].next)
        if (a->bedges[e].c == c)
            return a->bedges[e].to;
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap * 2;
    while (nc < need)
        nc *= 2;
    void *q = belt_realloc(*p, nc * elem);
    if (!q)
        return -1;
    memset((char *)q + *cap * elem, 0, (nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return 0;
}

belt_status belt__ac_add(struct belt__ac *a, const char *lit, size_t n, unsigned rule)
{
    if (a->built || rule >= BELT__AC_MAX_RULES || n == 0)
        return BELT_ERR_INVALID;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)lit[i];
        uint32_t next = build_child(a, node, c);
        if (!next) {
            if (grow((void **)&a->bnodes, &a->cap_nodes, a->n_nodes + 1, sizeof(*a->bnodes)) ||
                grow((void **)&a->bedges, &a->cap_edges, a->n_edges + 1, sizeof(*a->bedges)))
                return BELT_ERR_NOMEM;
            next = (uint32_t)a->n_nodes++;
            uint32_t e = (uint32_t)a->n_edges++;
            a->bedges[e] = (struct ac_bedge){c, next, a->bnodes[node].first};
            a->bnodes[node].first = e;
            if (node == 0)
                a->root[c] = next;
        }
        node = next;
    }
    a->bnodes[node].out.w[rule / 64] |= (uint64_t)1 << (rule % 64);
    a->bnodes[node].has_out = 1;
    return BELT_OK;
}

/* The child on byte c among edges[first .. first + n) (sorted by byte), or 0. */
static inline uint32_t child(const struct ac_edge *edges, uint32_t first, uint32_t n,
                             unsigned char c)
{
    const struct ac_edge *e = edges + first;
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (e[mid].c < c)
            lo = mid + 1;
        else if (e[mid].c > c)
            hi = mid;
        else
            return e[mid].to;
    }
    return 0;
}

/* Lay the edges of each node out contiguously, sorted by byte, in the run-time array. */
static belt_status compact_edges(struct belt__ac *a)
{
    struct ac_edge *ne = belt_calloc(a->n_edges + 1, sizeof(*ne));
    if (!ne)
        return BELT_ERR_NOMEM;
    uint32_t k = 1;
    for (size_t i = 0; i < a->n_nodes; i++) {
        struct ac_bnode *nd = &a->bnodes[i];
        uint32_t start = k;
        for (uint32_t e = nd->first; e; e = a->bedges[e].next) {
            uint32_t j = k++;
            ne[j] = (struct ac_edge){a->bedges[e].to, a->bedges[e].c};
            while (j > start && ne[j - 1].c > ne[j].c) { /* insertion sort */
                struct ac_edge t = ne[j - 1];
                ne[j - 1] = ne[j];
                ne[j] = t;
                j--;
            }
        }
        nd->first = start;
        nd->n_edges = k - start;
    }
    belt_free(a->bedges);
    a->bedges = NULL;
    a->edges = ne;
    return BELT_OK;
}

static uint64_t hits_hash(const struct belt__ac_hits *h)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t w = 0; w < BELT_ARRAY_LEN(h->w); w++)
        x = (x ^ h->w[w]) * 0xff51afd7ed558ccdULL;
    return x ^ (x >> 33);
}

/* The run-time nodes: each output set stored once (a hash table over the distinct sets). */
static belt_status finish_nodes(struct belt__ac *a)
{
    size_t n_out = 1, cap = 16;
    for (size_t i = 0; i < a->n_nodes; i++)
        n_out += a->bnodes[i].has_out != 0;
    while (cap < 2 * n_out)
        cap *= 2;
    uint32_t *slot = belt_calloc(cap, sizeof(*slot)); /* index into outs; 0 = empty */
    struct belt__ac_hits *outs = belt_calloc(n_out, sizeof(*outs));
    struct ac_node *nodes = belt_calloc(a->n_nodes, sizeof(*nodes));
    if (!slot || !outs || !nodes) {
        belt_free(slot);
        belt_free(outs);
        belt_free(nodes);
        return BELT_ERR_NOMEM;
    }
    size_t used = 1;
    for (size_t i = 0; i < a->n_nodes; i++) {
        const struct ac_bnode *b = &a->bnodes[i];
        nodes[i] = (struct ac_node){b->first, b->n_edges, b->fail, 0};
        if (!b->has_out)
            continue;
        size_t h = (size_t)hits_hash(&b->out) & (cap - 1);
        while (slot[h] && memcmp(&outs[slot[h]], &b->out, sizeof(b->out)) != 0)
            h = (h + 1) & (cap - 1);
        if (!slot[h]) {
            outs[used] = b->out;
            slot[h] = (uint32_t)used++;
        }
        nodes[i].out = slot[h];
    }
    belt_free(slot);
    struct belt__ac_hits *fit = belt_realloc(outs, used * sizeof(*outs));
    a->outs = fit ? fit : outs;
    a->n_outs = used;
    a->nodes = nodes;
    belt_free(a->bnodes);
    a->bnodes = NULL;
    return BELT_OK;
}

belt_status belt__ac_build(struct belt__ac *a)
{
    if (a->built)
        return BELT_OK;
    if (compact_edges(a) != BELT_OK)
        return BELT_ERR_NOMEM;
    uint32_t *queue = belt_malloc(a->n_nodes * sizeof(uint32_t));
    if (!queue)
        return BELT_ERR_NOMEM;
    size_t head = 0, tail = 0;
    const struct ac_bnode *root = &a->bnodes[0];
    for (uint32_t k = 0; k < root->n_edges; k++) {
        const struct ac_edge *e = &a->edges[root->first + k];
        a->root[e->c] = e->to;
        a->bnodes[e->to].fail = 0;
        queue[tail++] = e->to;
    }
    while (head < tail) { /* breadth first: a node's failure target is done before it */
        uint32_t u = queue[head++];
        const struct ac_bnode *nu = &a->bnodes[u];
        for (uint32_t k = 0; k < nu->n_edges; k++) {
            const struct ac_edge *e = &a->edges[nu->first + k];
            uint32_t f = nu->fail, t = 0;
            for (;;) {
                t = f == 0 ? a->root[e->c]
                           : child(a->edges, a->bnodes[f].first, a->bnodes[f].n_edges, e->c);
                if (t || f == 0)
                    break;
                f = a->bnodes[f].fail;
            }
            struct ac_bnode *nv = &a->bnodes[e->to];
            nv->fail = t == e->to ? 0 : t;
            for (size_t w = 0; w < BELT_ARRAY_LEN(nv->out.w); w++)
                nv->out.w[w] |= a->bnodes[nv->fail].out.w[w];
            nv->has_out |= a->bnodes[nv->fail].has_out;
            queue[tail++] = e->to;
        }
    }
    belt_free(queue);
    if (finish_nodes(a) != BELT_OK)
        return BELT_ERR_NOMEM;
    a->built = 1;
    return BELT_OK;
}

static inline uint32_t step(const struct belt__ac *a, uint32_t st, unsigned char c)
{
    while (st) {
        const struct ac_node *nd = &a->nodes[st];
        uint32_t t = child(a->edges, nd->first, nd->n_edges, c);
        if (t)
            return t;
        st = nd->fail;
    }
    return a->root[c];
}

static inline void collect(const struct belt__ac *a, uint32_t st, struct belt__ac_hits *h)
{
    uint32_t o = a->nodes[st].out;
    if (o)
        for (size_t w = 0; w < BELT_ARRAY_LEN(h->w); w++)
            h->w[w] |= a->outs[o].w[w];
}

void belt__ac_scan(const struct belt__ac *a, const char *s, size_t n, enum belt__ac_feed feed,
                   struct belt__ac_hits *hits)
{
    uint32_t st = 0;
    if (feed == BELT__AC_REVERSED) {
        size_t i = n;
        while (i > 0) {
            size_t j = i - 1;
            while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
                j--;
            for (size_t k = j; k < i; k++) {
                st = step(a, st, (unsigned char)s[k]);
                collect(a, st, hits);
            }
            i = j;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (feed == BELT__AC_ROT13 && c >= 'a' && c <= 'z')
            c = (unsigned char)('a' + (c - 'a' + 13) % 26);
        st = step(a, st, c);
        collect(a, st, hits);
    }
}
