/*
 * inject_prefilter.h — the literal prefilter of the injection rules: for each PCRE2 rule, a set
 * of literals of which every match must contain at least one (derived from the pattern itself,
 * so it cannot drift from it), and one Aho–Corasick automaton over all of them that tells, in
 * a single pass over a text, which rules can possibly match. Only those go to PCRE2.
 *
 * Built once by belt__inject_rules_new(); read-only afterwards and safe to share between
 * threads. Depends on libc and util/.
 */
#ifndef BELT_GUARD_INJECT_PREFILTER_H
#define BELT_GUARD_INJECT_PREFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

/* Most rules a prefilter can tell apart (bits of struct belt__ac_hits). */
#define BELT__AC_MAX_RULES 128

/* A set of literals: NUL-terminated strings, all in the one allocation v points to. */
struct belt__litset {
    char **v; /* the literals; owned (belt__litset_free) */
    size_t n; /* how many */
};

/* Literals required by the PCRE2 pattern `pattern` (the subset of the syntax the rule table
 * uses: literals, escapes, classes, groups, alternation, quantifiers, anchors, look-arounds;
 * no inline options or back-references): on BELT_OK, out->n > 0 means every match contains
 * one of out->v as a substring; out->n == 0 means no such set was found (anything
 * unsupported gives that) and the rule must always run. BELT_ERR_NOMEM on allocation failure.
 * Free with belt__litset_free. */
belt_status belt__inject_required_literals(const char *pattern, struct belt__litset *out);
void belt__litset_free(struct belt__litset *s);

/* Which rules' literals occur: bit r of w[r / 64]. */
struct belt__ac_hits {
    uint64_t w[BELT__AC_MAX_RULES / 64];
};

struct belt__ac;

/* An empty automaton; *out owned by the caller (belt__ac_free). */
belt_status belt__ac_new(struct belt__ac **out);
void belt__ac_free(struct belt__ac *a);
/* Add literal lit[0..n) for rule `rule` (< BELT__AC_MAX_RULES); before belt__ac_build only. */
belt_status belt__ac_add(struct belt__ac *a, const char *lit, size_t n, unsigned rule);
/* Compute failure links and merged outputs; no belt__ac_add afterwards. */
belt_status belt__ac_build(struct belt__ac *a);

/* How a text is fed to the automaton. */
enum belt__ac_feed {
    BELT__AC_PLAIN = 0,   /* s as is */
    BELT__AC_ROT13 = 1,   /* s with a-z rotated by 13 (the text a rot13 decoder would give) */
    BELT__AC_REVERSED = 2 /* s reversed by UTF-8 code point */
};

/* OR into *hits the rules whose literals occur in s[0..n) as fed. Thread-safe, no allocation. */
void belt__ac_scan(const struct belt__ac *a, const char *s, size_t n, enum belt__ac_feed feed,
                   struct belt__ac_hits *hits);

#endif
