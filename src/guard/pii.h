/*
 * pii.h — internal side of the PII detectors (public API in belt.h, "PII"): the compiled
 * detector table and the helpers redact.c builds on.
 */
#ifndef BELT_GUARD_PII_H
#define BELT_GUARD_PII_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

/* Bit mask of every entity this build knows. */
uint32_t belt__pii_all_mask(void);
/* Default mask for redaction: everything but URLs (usually not personal, and redacting them
 * breaks answers that must cite them). */
uint32_t belt__pii_default_mask(void);

#endif
