/*
 * cfg_guard.h — the `guard:` section: PII redaction policy, the injection guard, the audit log's
 * checkpoint key and the API-key hashing secret (docs/config-guard.md). Every sub-section has
 * defaults, so a configuration without `guard:` gets the safe ones.
 */
#ifndef BELT_CFG_GUARD_H
#define BELT_CFG_GUARD_H

#include <stdint.h>

#include "belt.h"
#include "config/reader.h"

/* Index into belt__cfg_guard_pii_actions / belt__cfg_guard_inj_actions. */
extern const char *const belt__cfg_guard_pii_actions[]; /* redact, block, flag, none */
extern const char *const belt__cfg_guard_inj_actions[]; /* block, flag, escalate, none */

struct belt_cfg_guard_source {
    double threshold;       /* score at which text is an injection; < 0: the default */
    double block_threshold; /* score from which `action` applies (below: flag); < 0: default */
    int action;             /* index into belt__cfg_guard_inj_actions */
    char *model;            /* classifier file (resolved); NULL: the default file */
    int model_explicit;     /* 1 if the file named it ("none" leaves model NULL) */
};

struct belt_cfg_guard_pii {
    struct belt_cfg_strlist entities; /* entity names; empty: the default set */
    double min_score;                 /* redaction threshold */
    int action;                       /* index into belt__cfg_guard_pii_actions */
};

struct belt_cfg_guard_injection {
    int rules;                                /* run the rule table */
    int64_t max_check_len;                    /* window for long texts, bytes */
    struct belt_cfg_guard_source user;        /* user input */
    struct belt_cfg_guard_source third_party; /* retrieved passages, tool outputs */
};

struct belt_cfg_guard_audit {
    char *key_file;           /* MAC key file (default: <store path>.audit-key) */
    char *key_env;            /* environment variable that overrides the file */
    int64_t checkpoint_every; /* rows between checkpoints */
};

struct belt_cfg_guard_keys {
    char *secret_file;  /* hashing secret file (default: <store path>.keys-secret) */
    char *secret_env;   /* environment variable that overrides the file */
    int64_t refresh_ms; /* how often the gateway reloads keys and spend */
    int required;       /* 1: `belt serve` requires a key on every endpoint but /healthz */
};

struct belt_cfg_guard {
    struct belt_cfg_guard_pii pii;             /* guard.pii */
    struct belt_cfg_guard_injection injection; /* guard.injection */
    struct belt_cfg_guard_audit audit;         /* guard.audit */
    struct belt_cfg_guard_keys keys;           /* guard.keys */
    int present;                               /* the file had a guard: section */
    struct belt_cfg_mark mark;                 /* where it starts */
};

/* The effective settings: the section's values, or the defaults when absent. Paths are
 * complete (defaults resolved against the config directory and the store path). */
struct belt_cfg_guard_view {
    uint32_t pii_mask;                         /* entities to detect */
    double pii_min_score;                      /* redaction threshold */
    enum belt_guard_action pii_action;         /* for untrusted models */
    char model_user[4096];                     /* user-input classifier, "" for none */
    int model_user_explicit;                   /* named in the file: a missing file is an error */
    char model_third_party[4096];              /* third-party classifier, "" for none */
    int model_third_party_explicit;            /* same */
    int rules;                                 /* run the rule table */
    int64_t max_check_len;                     /* window for long texts */
    double threshold_user;                     /* < 0: default */
    double threshold_third_party;              /* < 0: default */
    double block_threshold_user;               /* < 0: default */
    double block_threshold_third_party;        /* < 0: default */
    enum belt_guard_action action_user;        /* when detected in user text */
    enum belt_guard_action action_third_party; /* when detected in third-party text */
    char audit_key_file[4096];                 /* checkpoint MAC key file */
    const char *audit_key_env;                 /* borrowed from the config or static */
    int64_t checkpoint_every;                  /* rows between checkpoints */
    char keys_secret_file[4096];               /* key hashing secret file */
    const char *keys_secret_env;               /* borrowed from the config or static */
    int64_t refresh_ms;                        /* key/spend reload period */
    int keys_required;                         /* serve requires keys */
};

belt_status belt__cfg_guard_parse(struct belt_cfg_reader *rd, struct fy_node *node,
                                  struct belt_cfg_mark mark, struct belt_cfg_guard *out);
void belt__cfg_guard_view(const struct belt_cfg_guard *g, const char *config_dir,
                          const char *store_path, struct belt_cfg_guard_view *v);
void belt__cfg_guard_free(struct belt_cfg_guard *g);

#endif
