/*
 * inject.h — the rule side of the prompt-injection guard: Unicode/obfuscation normalisation,
 * decoding of encoded payloads (base64, hex, URL/escape sequences, rot13, reversed text), and a
 * table of weighted PCRE2 rules (instruction override, role-play and jailbreak markers, prompt
 * extraction, fake delimiters, output hijacking, exfiltration, instructions addressed to the
 * model inside third-party data), run behind a literal prefilter (inject_prefilter.h) so that
 * PCRE2 only sees the rules whose required words occur. Compiled once, read-only afterwards,
 * thread-safe.
 */
#ifndef BELT_GUARD_INJECT_H
#define BELT_GUARD_INJECT_H

#include <stddef.h>

#include "belt.h"
#include "util/buf.h"

struct belt__inject_rules;

/* What the rules found in one text. */
struct belt__inject_result {
    double score;       /* noisy-or of the weights of the rules that matched, [0, 1] */
    int n_rules;        /* distinct rules that matched */
    double best_weight; /* weight of the strongest rule */
    char best_id[64];   /* its id ("override.ignore_previous") */
    char best_via[16];  /* how it was found: "", "base64", "hex", "rot13", "reversed",
                           "leet", "spaced", "escapes" */
    int n_invisible;    /* zero-width / bidi control characters seen */
    int n_tags;         /* Unicode tag characters seen (hidden ASCII) */
    int spaced_run;     /* longest run of letters written one by one ("s a y t h a t") */
};

belt_status belt__inject_rules_new(struct belt__inject_rules **out, struct belt_error *err);
void belt__inject_rules_free(struct belt__inject_rules *r);
/* Run the rules on text[0..len) as seen from `src`. Thread-safe. */
belt_status belt__inject_rules_score(const struct belt__inject_rules *r, enum belt_guard_source src,
                                     const char *text, size_t len, struct belt__inject_result *out,
                                     struct belt_error *err);

/* The same on text whose normalisation (belt__inject_normalize) the caller already has:
 * norm[0..norm_len) with its counts of invisible and tag characters. text[0..len) is still
 * needed for encoded payloads. */
belt_status belt__inject_rules_score_normalized(const struct belt__inject_rules *r,
                                                enum belt_guard_source src, const char *text,
                                                size_t len, const char *norm, size_t norm_len,
                                                int n_invisible, int n_tags,
                                                struct belt__inject_result *out,
                                                struct belt_error *err);
/* Tests: on = 0 runs every rule on every variant (no literal prefilter, eager decoding), to
 * prove the prefilter changes no result. Not thread-safe: call before sharing r. */
void belt__inject_rules_set_prefilter(struct belt__inject_rules *r, int on);
/* Rules that have required literals (the rest always run); *n_rules = all rules. */
size_t belt__inject_rules_n_filtered(const struct belt__inject_rules *r, size_t *n_rules);

/* Normalise for matching: Unicode look-alikes (full-width, mathematical alphanumerics,
 * circled letters, common Cyrillic/Greek homoglyphs) folded to ASCII, invisible characters
 * dropped (counted), tag characters decoded (counted), ASCII lower-cased, horizontal white
 * space collapsed to one space, runs of line breaks to one '\n'. Appends to out. */
belt_status belt__inject_normalize(const char *text, size_t len, struct belt_buf *out,
                                   int *n_invisible, int *n_tags);

#endif
