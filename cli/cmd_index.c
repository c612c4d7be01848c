/*
 * cmd_index.c — `belt index`: index documents into a retrieval corpus (SQLite FTS5 in the
 * store), show corpus statistics, query a corpus, or drop it. See docs/cli/index.md.
 */
#include "belt_config.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/utf8.h"

#define MAX_DOC_BYTES ((size_t)64 << 20)

enum mode { MODE_ADD, MODE_STATS, MODE_QUERY, MODE_DROP };

struct opts {
    enum mode mode;         /* what to do */
    const char *corpus;     /* --corpus */
    const char *id_field;   /* --id-field */
    const char *text_field; /* --text-field */
    long chunk;             /* --chunk words (0: whole documents) */
    long overlap;           /* --overlap words */
    long k;                 /* -k for --query */
    int match_all;          /* --all */
    int stop_on_bad;        /* --on-bad-input stop */
    int json;               /* --json */
    const char *query;      /* --query TEXT */
};

struct run {
    const struct opts *o;    /* options */
    struct belt_indexer *ix; /* indexer */
    long n_bad;              /* inputs skipped */
    int stop;                /* stop at the next chance (fatal or --on-bad-input stop) */
    belt_status fatal;       /* a failure that ends the run */
    struct belt_error err;   /* its detail */
};

/* Report one bad input; returns 1 when the run must stop. */
static int bad_input(struct run *r, const char *fmt, const char *where, const char *msg)
{
    fprintf(stderr, fmt, where, msg);
    r->n_bad++;
    if (r->o->stop_on_bad) {
        r->stop = 1;
        r->fatal = BELT_ERR_FORMAT;
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "stopped at the first bad input "
                 "(--on-bad-input stop)");
    }
    return r->stop;
}

/* Add one document; invalid documents are bad input, store failures are fatal. */
static void add_doc(struct run *r, const char *where, const char *id, const char *text, size_t len)
{
    struct belt_error err = {0};
    belt_status s = belt_indexer_add(r->ix, id, text, len, &err);
    if (s == BELT_ERR_INVALID || s == BELT_ERR_TOOBIG) {
        bad_input(r, "belt index: %s: %s (skipped)\n", where, err.msg);
    } else if (s != BELT_OK) {
        r->fatal = s;
        r->err = err;
        r->stop = 1;
    }
}

/* The document id of a JSONL record: a string, or an integer written in decimal. */
static const char *record_id(const json_t *rec, const char *field, char *buf, size_t cap)
{
    const json_t *v = json_object_get(rec, field);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

static void index_jsonl(struct run *r, const char *path)
{
    struct belt_jsonl_reader jr;
    struct belt_error err = {0};
    belt_status s = belt_jsonl_open(&jr, path, &err);
    if (s != BELT_OK) {
        r->fatal = s;
        r->err = err;
        r->stop = 1;
        return;
    }
    while (!r->stop) {
        json_t *rec = NULL;
        s = belt_jsonl_next(&jr, &rec, &err);
        if (s == BELT_ERR_FORMAT) {
            bad_input(r, "belt index: %s%s (skipped)\n", "", err.msg);
            continue;
        }
        if (s != BELT_OK) {
            r->fatal = s;
            r->err = err;
            break;
        }
        if (!rec)
            break;
        char where[600], idbuf[32];
        snprintf(where, sizeof(where), "%s:%lld", path, (long long)belt_jsonl_lineno(&jr));
        const char *id = record_id(rec, r->o->id_field, idbuf, sizeof(idbuf));
        const json_t *text = json_object_get(rec, r->o->text_field);
        if (!id) {
            char msg[200];
            snprintf(msg, sizeof(msg), "no \"%s\" field (a string or an integer)", r->o->id_field);
            bad_input(r, "belt index: %s: %s (skipped)\n", where, msg);
        } else if (!json_is_string(text)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "no \"%s\" field (a string)", r->o->text_field);
            bad_input(r, "belt index: %s: %s (skipped)\n", where, msg);
        } else {
            add_doc(r, where, id, json_string_value(text), json_string_length(text));
        }
        json_decref(rec);
    }
    belt_jsonl_close(&jr);
}

/* One plain-text file as one document with id `id`. */
static void index_text_file(struct run *r, const char *path, const char *id)
{
    char *data = NULL;
    size_t len = 0;
    struct belt_error err = {0};
    belt_status s = belt_file_read_all(path, MAX_DOC_BYTES, &data, &len, &err);
    if (s == BELT_ERR_TOOBIG || s == BELT_ERR_IO || s == BELT_ERR_NOTFOUND) {
        bad_input(r, "belt index: %s: %s (skipped)\n", path, err.msg);
        return;
    }
    if (s != BELT_OK) {
        r->fatal = s;
        r->err = err;
        r->stop = 1;
        return;
    }
    if (memchr(data, '\0', len) || !belt_utf8_valid(data, len, NULL))
        bad_input(r, "belt index: %s: %s (skipped)\n", path, "not UTF-8 text");
    else
        add_doc(r, path, id, data, len);
    belt_free(data);
}

static int visible(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Every visible regular file under dir (sorted, recursively); ids are paths relative to root. */
static void index_dir(struct run *r, const char *dir, size_t root_len)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, visible, alphasort);
    if (n < 0) {
        bad_input(r, "belt index: %s: %s (skipped)\n", dir, "cannot read the directory");
        return;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        int w = snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
        struct stat sb;
        if (!r->stop && w > 0 && (size_t)w < sizeof(path) && stat(path, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                index_dir(r, path, root_len);
            else if (S_ISREG(sb.st_mode))
                index_text_file(r, path, path + root_len + 1);
        }
        free(list[i]);
    }
    free(list);
}

static int is_jsonl(const char *path)
{
    size_t n = strlen(path);
    return strcmp(path, "-") == 0 || (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) ||
           (n > 7 && strcmp(path + n - 7, ".ndjson") == 0) ||
           (n > 5 && strcmp(path + n - 5, ".json") == 0);
}

static void index_input(struct run *r, const char *path)
{
    struct stat sb;
    if (strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t root = strlen(path);
        while (root > 1 && path[root - 1] == '/')
            root--;
        char dir[4096];
        snprintf(dir, sizeof(dir), "%.*s", (int)root, path);
        index_dir(r, dir, root);
    } else if (is_jsonl(path)) {
        index_jsonl(r, path);
    } else {
        index_text_file(r, path, path);
    }
}

static int do_add(struct belt_store *st, const struct opts *o, int n_inputs, char **inputs)
{
    struct run r = {0};
    r.o = o;
    struct belt_indexer_params p = belt_indexer_default_params();
    p.corpus = o->corpus;
    p.chunk_words = (size_t)o->chunk;
    p.chunk_overlap = (size_t)o->overlap;
    int64_t t0 = belt_now_us();
    belt_status s = belt_indexer_new(st, &p, &r.ix, &r.err);
    if (s != BELT_OK)
        return cli_fail(&r.err, s);
    for (int i = 0; i < n_inputs && !r.stop; i++)
        index_input(&r, inputs[i]);
    if (r.fatal == BELT_OK || r.fatal == BELT_ERR_FORMAT) {
        struct belt_error err = {0};
        s = belt_indexer_commit(r.ix, &err); /* what was indexed before a stop is kept */
        if (s != BELT_OK && r.fatal == BELT_OK) {
            r.fatal = s;
            r.err = err;
        }
    }
    double secs = (double)(belt_now_us() - t0) / 1e6;
    fprintf(stderr, "indexed %lld document%s (%lld passage%s) into corpus '%s' in %.2f s",
            (long long)belt_indexer_n_documents(r.ix),
            belt_indexer_n_documents(r.ix) == 1 ? "" : "s",
            (long long)belt_indexer_n_passages(r.ix), belt_indexer_n_passages(r.ix) == 1 ? "" : "s",
            o->corpus, secs);
    if (r.n_bad)
        fprintf(stderr, "; %ld bad input%s skipped", r.n_bad, r.n_bad == 1 ? "" : "s");
    fputc('\n', stderr);
    belt_indexer_free(r.ix);
    if (r.fatal != BELT_OK)
        return cli_fail(&r.err, r.fatal);
    return r.n_bad ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

struct stats_state {
    int json;   /* --json */
    long count; /* corpora printed */
};

static int print_stats(void *ud, const struct belt_corpus_stats *s)
{
    struct stats_state *ss = ud;
    if (ss->json) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_puts(&b, "{\"corpus\":");
        belt_buf_append_json_string(&b, s->corpus, strlen(s->corpus));
        belt_buf_printf(&b, ",\"documents\":%lld,\"passages\":%lld,\"bytes\":%lld}",
                        (long long)s->n_documents, (long long)s->n_passages, (long long)s->n_bytes);
        puts(belt_buf_cstr(&b));
        belt_buf_deinit(&b);
    } else {
        if (ss->count == 0)
            printf("%-24s %10s %10s %12s\n", "corpus", "documents", "passages", "bytes");
        printf("%-24s %10lld %10lld %12lld\n", s->corpus, (long long)s->n_documents,
               (long long)s->n_passages, (long long)s->n_bytes);
    }
    ss->count++;
    return 0;
}

static int do_stats(struct belt_store *st, const struct opts *o)
{
    struct stats_state ss = {o->json, 0};
    struct belt_error err = {0};
    belt_status s = belt_corpus_stats(st, o->corpus, print_stats, &ss, &err);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (ss.count == 0 && !o->json && o->corpus)
        fprintf(stderr, "no corpus named '%s'\n", o->corpus);
    else if (ss.count == 0 && !o->json)
        fprintf(stderr, "no corpora indexed yet\n");
    return CLI_EXIT_OK;
}

struct query_state {
    int json; /* --json */
    int rank; /* results printed */
};

static int print_passage(void *ud, const struct belt_passage *p)
{
    struct query_state *qs = ud;
    qs->rank++;
    if (qs->json) {
        struct belt_buf b;
        belt_buf_init(&b, 0);
        belt_buf_puts(&b, "{\"id\":");
        belt_buf_append_json_string(&b, p->doc_id, strlen(p->doc_id));
        belt_buf_printf(&b, ",\"chunk\":%lld,\"score\":%.6g,\"text\":", (long long)p->chunk,
                        p->score);
        belt_buf_append_json_string(&b, p->text, strlen(p->text));
        belt_buf_putc(&b, '}');
        puts(belt_buf_cstr(&b));
        belt_buf_deinit(&b);
        return 0;
    }
    size_t n = strlen(p->text), show = n > 160 ? 160 : n;
    while (show < n && show > 0 && ((unsigned char)p->text[show] & 0xC0) == 0x80)
        show--;
    printf("%2d. %s#%lld  score %.3f\n    ", qs->rank, p->doc_id, (long long)p->chunk, p->score);
    for (size_t i = 0; i < show; i++)
        putchar(p->text[i] == '\n' || p->text[i] == '\t' ? ' ' : p->text[i]);
    puts(show < n ? "..." : "");
    return 0;
}

static int do_query(struct belt_store *st, const struct opts *o)
{
    struct belt_retriever_params p = belt_retriever_default_params();
    p.corpus = o->corpus;
    p.k = (size_t)o->k;
    p.match_all = o->match_all;
    struct belt_retriever *r = NULL;
    struct belt_error err = {0};
    struct query_state qs = {o->json, 0};
    belt_status s = belt_retriever_new(st, &p, &r, &err);
    if (s == BELT_OK)
        s = belt_retriever_query(r, o->query, strlen(o->query), 0, print_passage, &qs, &err);
    belt_retriever_free(r);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    if (qs.rank == 0 && !o->json)
        fprintf(stderr, "no passage matches\n");
    return CLI_EXIT_OK;
}

static int do_drop(struct belt_store *st, const struct opts *o)
{
    int64_t n = 0;
    struct belt_error err = {0};
    belt_status s = belt_corpus_drop(st, o->corpus, &n, &err);
    if (s != BELT_OK)
        return cli_fail(&err, s);
    fprintf(stderr, "dropped corpus '%s' (%lld passage%s)\n", o->corpus, (long long)n,
            n == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

/* Apply option c (with optarg) to o; counts mode options in *modes. -1 on a usage error. */
static int apply_opt(const struct cli_command *cmd, int c, char **argv, struct opts *o, int *modes)
{
    switch (c) {
    case 'C':
        o->corpus = optarg;
        return 0;
    case 'i':
        o->id_field = optarg;
        return 0;
    case 't':
        o->text_field = optarg;
        return 0;
    case 'n':
        return cli_parse_long(cmd, "--chunk", optarg, &o->chunk);
    case 'o':
        return cli_parse_long(cmd, "--overlap", optarg, &o->overlap);
    case 'k':
        return cli_parse_long(cmd, "-k", optarg, &o->k);
    case 's':
    case 'q':
    case 'D':
        o->mode = c == 's' ? MODE_STATS : c == 'q' ? MODE_QUERY : MODE_DROP;
        o->query = c == 'q' ? optarg : o->query;
        (*modes)++;
        return 0;
    case 'a':
        o->match_all = 1;
        return 0;
    case 'j':
        o->json = 1;
        return 0;
    case 'b':
        if (strcmp(optarg, "skip") != 0 && strcmp(optarg, "stop") != 0) {
            cli_usage_error(cmd, "--on-bad-input takes skip or stop, not '%s'", optarg);
            return -1;
        }
        o->stop_on_bad = strcmp(optarg, "stop") == 0;
        return 0;
    case ':':
        cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        return -1;
    default:
        cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        return -1;
    }
}

/* Parse the command line into o; returns -1 (after printing) on a usage error. */
static int parse_args(const struct cli_command *cmd, int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"corpus", required_argument, NULL, 'C'},
                                       {"id-field", required_argument, NULL, 'i'},
                                       {"text-field", required_argument, NULL, 't'},
                                       {"chunk", required_argument, NULL, 'n'},
                                       {"overlap", required_argument, NULL, 'o'},
                                       {"stats", no_argument, NULL, 's'},
                                       {"query", required_argument, NULL, 'q'},
                                       {"drop", no_argument, NULL, 'D'},
                                       {"all", no_argument, NULL, 'a'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"on-bad-input", required_argument, NULL, 'b'},
                                       {NULL, 0, NULL, 0}};
    int modes = 0;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":k:", lo, NULL);
        if (c == -1)
            break;
        if (apply_opt(cmd, c, argv, o, &modes) != 0)
            return -1;
    }
    if (modes > 1) {
        cli_usage_error(cmd, "--stats, --query and --drop are alternatives");
        return -1;
    }
    return 0;
}

/* Check the combination of options for the chosen mode; non-zero (after printing) on a usage
 * error. `inputs` are the arguments after the options. */
static int check_args(const struct cli_command *cmd, const struct opts *o, int n_inputs,
                      char **inputs)
{
    if (o->mode != MODE_STATS && !o->corpus)
        return cli_usage_error(cmd, "--corpus NAME is required");
    if (o->mode == MODE_ADD && n_inputs == 0)
        return cli_usage_error(cmd, "name at least one FILE.jsonl, text file or DIR to index");
    if (o->mode != MODE_ADD && n_inputs > 0)
        return cli_usage_error(cmd, "unexpected argument '%s'", inputs[0]);
    if (o->chunk < 0 || o->chunk > 100000)
        return cli_usage_error(cmd, "--chunk must be from 0 (whole documents) to 100000 words");
    if (o->overlap < 0 || (o->overlap > 0 && o->overlap >= o->chunk))
        return cli_usage_error(cmd, "--overlap must be smaller than --chunk");
    if (o->k < 1 || o->k > 1000)
        return cli_usage_error(cmd, "-k must be from 1 to 1000");
    return 0;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct opts o = {MODE_ADD, NULL, "id", "text", 0, 0, 5, 0, 0, 0, NULL};
    if (parse_args(cmd, argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    if (check_args(cmd, &o, argc - optind, argv + optind) != 0)
        return CLI_EXIT_USAGE;
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_store *st = NULL;
    belt_status s = cli_load_config(ctx, &cfg, &err);
    if (s == BELT_OK)
        s = cli_open_store(cfg, &st, &err);
    int rc;
    if (s != BELT_OK)
        rc = cli_fail(&err, s);
    else if (o.mode == MODE_STATS)
        rc = do_stats(st, &o);
    else if (o.mode == MODE_QUERY)
        rc = do_query(st, &o);
    else if (o.mode == MODE_DROP)
        rc = do_drop(st, &o);
    else
        rc = do_add(st, &o, argc - optind, argv + optind);
    belt_store_close(st);
    belt_config_free(cfg);
    return rc;
}

const struct cli_command cli_index_cmd = {
    "index", run, "index documents for retrieval (SQLite FTS5, BM25), query or inspect corpora",
    "usage: belt [-c FILE] index --corpus NAME [OPTIONS] FILE.jsonl|TEXTFILE|DIR|- ...\n"
    "       belt [-c FILE] index --stats [--corpus NAME] [--json]\n"
    "       belt [-c FILE] index --query TEXT --corpus NAME [-k N] [--all] [--json]\n"
    "       belt [-c FILE] index --drop --corpus NAME\n"
    "\n"
    "Index documents into a corpus of the store for the retrieve station. JSONL input (.jsonl,\n"
    ".ndjson, .json or - for stdin) has one object per line with an id and a text field; a\n"
    "directory indexes every visible regular file below it (id: its relative path); any other\n"
    "file is one document (id: the path as given). Indexing a document id again replaces it.\n"
    "\n"
    "  --corpus NAME          corpus (1-64 of A-Z a-z 0-9 _ - .)\n"
    "  --id-field F           JSONL field with the document id (default id)\n"
    "  --text-field F         JSONL field with the text (default text)\n"
    "  --chunk N              split documents into passages of at most N words (default 0:\n"
    "                         whole documents), ending at a sentence when one is near\n"
    "  --overlap N            words repeated at the start of the next passage (default 0)\n"
    "  --on-bad-input MODE    skip (default: report each bad line or file and go on) or stop\n"
    "  --stats                documents, passages and bytes per corpus\n"
    "  --query TEXT           the top passages for TEXT by BM25 (plain words; any quotes or\n"
    "                         operators in TEXT are searched as words)\n"
    "  -k N                   passages to show (default 5)\n"
    "  --all                  a passage must contain every word of the query\n"
    "  --drop                 delete the corpus\n"
    "  --json                 JSON lines output for --stats and --query\n"
    "\n"
    "Exit status: 0 when everything was indexed; 1 when some input was skipped (the rest is\n"
    "indexed and committed) or on failure; 2 on a usage error."};
