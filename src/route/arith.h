/*
 * arith.h — checks of the arithmetic an answer shows its work with: the `arithmetic` accept
 * condition (route/accept.h).
 *
 * A model that works a problem out in prose ("he runs 3 x 60 = 180 meters", "so 180 * 3 = 540")
 * states calculations that can be checked without another model: every stated calculation is
 * evaluated, and one that does not hold marks the answer as doubtful. Calculator annotations in
 * the GSM8K style (`<<3*60=180>>`) are checked the same way. The results the answer stated are
 * kept, so that a caller can ask whether its final answer is one of them, and the numbers of the
 * task can be compared with those of the answer (a task's numbers that the answer never uses are
 * a sign of a step left out).
 *
 * What counts as a calculation: on one line, the longest runs of numbers, operators
 * (+ - * / x × ÷ −, where x multiplies only between two numbers) and parentheses on both sides
 * of an `=`; an `=` between two lone numbers ("Step 2 = 7") is not a calculation, and a word
 * ends a run ("D = 56" has no left side). Numbers may carry a leading `$` and thousands separators
 * (1,250.50). Calculations with a percentage in them are not checked (`20% of 50 = 10` is prose,
 * and "80/100 = 80%" is a change of unit), nor are sides that do not parse. A calculation holds
 * when |value − stated| <= max(0.011, 0.001 |stated|): cents and rounded decimals pass.
 *
 * Pure functions over borrowed text; no allocation; thread-safe.
 */
#ifndef BELT_ROUTE_ARITH_H
#define BELT_ROUTE_ARITH_H

#include <stddef.h>

/* Results kept per answer; later ones are checked but not kept. */
#define BELT__ARITH_MAX_RESULTS 256

/* What belt__arith_check() found. */
struct belt__arith {
    int checked;          /* calculations evaluated */
    int wrong;            /* of which did not hold */
    char first_wrong[96]; /* the first that did not hold: "2*27-5 = 52 (is 49)", or "" */
    double results[BELT__ARITH_MAX_RESULTS]; /* values the answer stated after an `=` */
    size_t n_results;                        /* count (≤ BELT__ARITH_MAX_RESULTS) */
};

/* Check every calculation the text states. */
void belt__arith_check(const char *text, size_t len, struct belt__arith *out);

/* 1 if v equals one of the stated results (within the tolerance above). */
int belt__arith_is_result(const struct belt__arith *a, double v);

/* How many distinct numbers of `task` appear neither in `answer` (its annotations included) nor
 * among a's results (a may be NULL). The first such number is written to first[0..cap) ("" if
 * none). Percentages count by their number (20% is 20); at most 64 distinct task numbers are
 * considered. */
int belt__arith_unused(const char *task, size_t task_len, const char *answer, size_t answer_len,
                       const struct belt__arith *a, char *first, size_t cap);

/* The digits of a number starting at s[i] (a digit; else 0 is returned): digit runs with
 * 3-digit comma groups ("1,250") and one decimal part. Writes them without separators into
 * num[0..cap) (NUL-terminated; a longer number is cut there) and returns the bytes read. Shared
 * with the agreement normaliser (route/accept.c). */
size_t belt__arith_scan_digits(const char *s, size_t n, size_t i, char *num, size_t cap);

/* The number in s[0..len) with an optional sign, `$` and thousands separators ("$1,250" →
 * 1250); 0 if s holds anything else (surrounding spaces allowed). */
int belt__arith_number(const char *s, size_t len, double *out);

#endif
