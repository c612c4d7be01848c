/*
 * rules.h — extraction by rules: named fields filled from a text by PCRE2 patterns and by
 * dictionaries (phrase lists mapped to canonical values), with normalisers and type conversion.
 * The configuration is a JSON object (from the YAML config) mapping field names to specs:
 *
 *   order_id: { pattern: '\b(?:order|ord)\s*#?\s*([A-Z]{2}\d{6})\b' }
 *   amount:   { pattern: '[$€£]\s?\d[\d,.]*', normalize: currency }          # "$1,234.50" ->
 * 1234.5 contact:  { pattern: '(?<name>[A-Z][a-z]+) <(?<email>[^>\s]+)>' }        # -> {name,
 * email} skus:     { pattern: '\bSKU-\d+\b', match: all }                          # -> ["SKU-1",
 * ...] urgent:   { pattern: '\b(urgent|asap)\b', ignore_case: true, value: true, default: false }
 *   product:  { dictionary: { router: [router, modem, "wi-fi box"], phone: [phone, mobile] } }
 *
 * Every key and its meaning are in docs/lines-kit.md. Dictionaries compile into a trie
 * (line/dict.h) matched case-insensitively on word boundaries, longest phrase first, so a
 * dictionary of many thousands of phrases costs one pass over the text.
 *
 * Compile once, apply many times. Thread rule: compiled rules are immutable; any number of
 * threads may apply them at once (match data is pooled). Ownership: compile copies what it needs
 * from the spec; apply adds new values to the caller's object.
 */
#ifndef BELT_LINE_RULES_H
#define BELT_LINE_RULES_H

#include <jansson.h>
#include <stddef.h>

#include "belt.h"

struct belt_rules;

/* Compile `spec` (an object: field name -> field spec). Errors are BELT_ERR_CONFIG naming the
 * key as "WHERE.field.key: why" (where may be NULL: "rules"), e.g. "rules.amount.pattern:
 * invalid regular expression at offset 3: missing closing parenthesis". *out is owned by the
 * caller (belt__rules_free). */
belt_status belt__rules_compile(const json_t *spec, const char *where, struct belt_rules **out,
                                struct belt_error *err);
void belt__rules_free(struct belt_rules *r);

/* Extract from text[0..len) (UTF-8; invalid sequences never match) and set each field that
 * matched (or has a default) in `out`, an object; fields that did not match are left alone.
 * Returns BELT_ERR_NOMEM (out may then hold some of the fields) or BELT_OK. */
belt_status belt__rules_apply(const struct belt_rules *r, const char *text, size_t len, json_t *out,
                              struct belt_error *err);

/* The fields in configuration order (names borrowed). */
size_t belt__rules_n_fields(const struct belt_rules *r);
const char *belt__rules_field_name(const struct belt_rules *r, size_t i);

/* Parse a money amount ("$1,234.50", "1.234,50 EUR", "(12.00)", "-3") into *out; 0 on success,
 * -1 when there is no amount. Exposed for tests and other normalisers. */
int belt__rules_parse_amount(const char *s, size_t n, double *out);

#endif
