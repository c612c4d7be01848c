/*
 * assemble.h — rebuilds a complete chat.completion from the chat.completion.chunk objects of a
 * stream: content and tool-call arguments concatenated per choice, ids and names kept, finish
 * reasons, token logprobs, usage and the response id/model. What a streamed call returns as
 * its answer, and what the cache stores for it. Pure; one assembler per stream.
 */
#ifndef BELT_MODEL_ASSEMBLE_H
#define BELT_MODEL_ASSEMBLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "belt.h"
#include "util/buf.h"

#define BELT_ASM_MAX_CHOICES 16
#define BELT_ASM_MAX_TOOLS   32

struct belt_asm_tool {
    char *id;             /* tool call id; owned */
    char *name;           /* function name; owned */
    struct belt_buf args; /* arguments text */
};

struct belt_asm_choice {
    struct belt_buf content;                         /* content text */
    int has_content;                                 /* a content delta arrived */
    char finish[32];                                 /* finish_reason, "" until known */
    json_t *logprobs;                                /* array of token logprob objects, or NULL */
    struct belt_asm_tool *tools[BELT_ASM_MAX_TOOLS]; /* by tool call index; owned, lazily */
    int n_tools;                                     /* highest index + 1 */
};

struct belt_assembler {
    char id[128];         /* response id */
    char model[128];      /* response model */
    int64_t created;      /* created (Unix s) */
    char fingerprint[64]; /* system_fingerprint */
    int has_usage;        /* a usage object arrived */
    int64_t input_tokens, output_tokens;
    struct belt_asm_choice *choices[BELT_ASM_MAX_CHOICES]; /* by index; owned, lazily */
    size_t max_bytes;                                      /* bound on accumulated text */
};

void belt__asm_init(struct belt_assembler *a, size_t max_bytes);
void belt__asm_deinit(struct belt_assembler *a);
/* Add one chunk. Sets *delta and *delta_len to choices[0]'s content delta (borrowed from chunk),
 * *usage_only when the chunk carries usage and no choices. BELT_ERR_TOOBIG past max_bytes. */
belt_status belt__asm_add(struct belt_assembler *a, const json_t *chunk, const char **delta,
                          size_t *delta_len, int *usage_only);
/* The assembled chat.completion (new reference; NULL on OOM). */
json_t *belt__asm_result(const struct belt_assembler *a);

#endif
