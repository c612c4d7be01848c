/*
 * audit.h — what the audit log (audit.c) offers belt's own writers beyond the public API
 * (belt.h, "Audit"): a batch append for events whose data is already in the log's canonical
 * form, so that the gateway's writer thread does not parse and re-print every model call.
 */
#ifndef BELT_GUARD_AUDIT_H
#define BELT_GUARD_AUDIT_H

#include <stddef.h>

#include "belt.h"

/* Room for belt__audit_real's text, NUL included. */
#define BELT__AUDIT_REAL_MAX 32

/* Write v as the canonical form prints a real (jansson at 17 significant digits: "%.17g",
 * ".0" added to integral values, no '+' or leading zeros in the exponent); returns the length.
 * v must be finite. */
size_t belt__audit_real(char out[BELT__AUDIT_REAL_MAX], double v);

/* belt_audit_append_batch for events whose data_json the caller wrote in canonical form
 * itself: one compact JSON object, keys sorted (byte order, at every level), reals as
 * belt__audit_real writes them, integers in plain decimal. The envelope is then built by
 * concatenation. An event with a byte outside printable ASCII in any of its strings takes the
 * general path (parse and re-print), whose escapes differ, so the stored content is the same
 * either way. */
belt_status belt__audit_append_canonical(struct belt_audit *a, const struct belt_audit_event *ev,
                                         size_t n, int64_t *last_seq, struct belt_error *err);

#endif
