/*
 * run.c — batch runs of a line over a file (belt_line_run; docs/lines.md#runs).
 *
 * Threads: the calling thread reads the input, hands records in batches to W workers, puts the
 * finished items back in input order, writes the output and commits checkpoints. Each worker
 * runs one event loop with a lane (line/exec.h): JSONL lines are parsed there, local stations
 * run inline and model calls stay in flight on the loop. Hand-over is by mutex-guarded lists;
 * a worker is woken through a pipe, the main thread through a condition variable.
 *
 * Exactly once: the output holds the items before `next_item`, in order. A checkpoint writes
 * the buffered lines, fdatasyncs the file, then commits {next_item, input offset, output
 * offset, statistics, non-ok items} in one transaction. A resumed run cuts the output back to
 * the committed offset and continues the input at the committed offset, so whatever was
 * written after the last commit is written again exactly once. Reviews parked by items after
 * the last commit are found again by (run, item) instead of being added twice (exec.c).
 */
#include "belt_config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/engine.h"
#include "line/exec.h"
#include "line/run.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/csv.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/lines.h"
#include "util/log.h"

/* One record on its way: filled by the main thread, processed by a worker, written in order. */
struct slot {
    struct slot *next;
    int64_t seq, lineno, in_end, in_lineno; /* position: number, first line, offset after it */
    char *text;                             /* JSONL line (owned) */
    size_t len;
    json_t *rec;                       /* CSV record (owned) */
    struct belt_review_record *review; /* reviewed runs: the decided review (owned) */
    struct worker *w;                  /* the worker processing it */
    /* result */
    int bad;       /* 1: the record was rejected (bad_msg) */
    char *bad_msg; /* owned */
    char *out;     /* the output line (owned) */
    size_t out_len;
    int outcome;
    char *reason; /* owned */
    char review_id[40];
    struct belt__item_delta delta; /* moved from the item */
};

struct runner;

struct worker {
    struct runner *R;
    int index;
    pthread_t th;
    int started;
    struct event_base *base;
    struct belt_loop *loop;
    struct belt__lane *lane;
    int pipe[2];
    struct event *wake_ev;
    pthread_mutex_t mu; /* guards inbox, quit */
    int mu_init;        /* mu was initialised */
    struct slot *in_head, *in_tail;
    int quit;    /* finish what is in flight, then leave */
    size_t busy; /* items in flight (worker thread only) */
    int in_wake; /* inside the wake callback: batch the results */
    struct slot *done_head, *done_tail;
    belt_status init_st; /* set before the thread signals readiness */
    struct belt_error init_err;
};

struct runner {
    struct belt_engine *e;
    const struct belt_line_run_params *p;
    const struct belt_cfg_line *line;
    const char *input_name; /* for messages */
    int csv;
    struct belt_store *st; /* the main thread's connection */
    struct belt__run_row row;
    struct belt__gold *gold;
    size_t n_gold;
    struct belt_line_summary *sum;
    /* input */
    struct belt_line_reader lr;
    int lr_open;
    struct belt_csv_reader *cr;
    struct belt_review_record *reviews; /* reviewed runs (owned copies) */
    size_t n_reviews, next_review;
    int64_t in_size;               /* bytes, -1 unknown */
    int64_t read_off, read_lineno; /* position after the last record read */
    int64_t next_seq;
    int eof;
    /* workers */
    struct worker *w;
    int n_w;
    pthread_mutex_t mu; /* guards out list, ready */
    pthread_cond_t cond;
    struct slot *out_head, *out_tail;
    int ready;
    /* ordering and output */
    struct slot **ring;
    size_t cap;
    int64_t write_seq;
    int64_t in_flight;
    int fd;
    struct belt_buf obuf;
    struct belt__run_item *pending; /* non-ok items since the last checkpoint */
    size_t n_pending, cap_pending;
    int64_t since_ckpt, last_ckpt_ms;
    int stop_bad;     /* a bad record stopped the run */
    int limit_hit;    /* --limit ended the input early */
    belt_status fail; /* first fatal error */
    struct belt_error fail_err;
    /* progress */
    int64_t t0_ms, last_prog_ms;
    int64_t rate_t[8], rate_n[8];
    size_t rate_i;
};

static void slot_free(struct slot *s)
{
    if (!s)
        return;
    belt_free(s->text);
    json_decref(s->rec);
    if (s->review) {
        belt_free((char *)s->review->id);
        belt_free((char *)s->review->payload_json);
        belt_free((char *)s->review->answer_json);
        belt_free((char *)s->review->decision_json);
        belt_free((char *)s->review->decided_by);
        belt_free(s->review);
    }
    belt_free(s->bad_msg);
    belt_free(s->out);
    belt_free(s->reason);
    belt__item_delta_deinit(&s->delta);
    belt_free(s);
}

/* ---- workers --------------------------------------------------------------------------------- */

static void push_results(struct runner *R, struct slot *head, struct slot *tail)
{
    if (!head)
        return;
    pthread_mutex_lock(&R->mu);
    if (R->out_tail)
        R->out_tail->next = head;
    else
        R->out_head = head;
    R->out_tail = tail;
    pthread_cond_signal(&R->cond);
    pthread_mutex_unlock(&R->mu);
}

static void worker_result(struct worker *w, struct slot *s)
{
    s->next = NULL;
    if (w->in_wake) {
        if (w->done_tail)
            w->done_tail->next = s;
        else
            w->done_head = s;
        w->done_tail = s;
    } else {
        push_results(w->R, s, s);
    }
}

static void item_done(void *ud, struct belt__item *it)
{
    struct slot *s = ud;
    struct worker *w = s->w;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    if (belt__item_dump(it, &b) == BELT_OK) {
        s->out = belt_buf_detach(&b, &s->out_len);
    } else {
        belt_buf_deinit(&b);
        s->bad = 1;
        s->bad_msg = belt_strdup("out of memory writing the item");
    }
    s->outcome = belt__item_outcome(it);
    const char *why = belt__item_reason(it);
    s->reason = *why ? belt_strdup(why) : NULL;
    snprintf(s->review_id, sizeof(s->review_id), "%s", belt__item_review_id(it));
    belt__item_take_delta(it, &s->delta);
    belt__item_free(it);
    w->busy--;
    worker_result(w, s);
    if (!w->in_wake && w->busy == 0) {
        pthread_mutex_lock(&w->mu);
        int quit = w->quit && !w->in_head;
        pthread_mutex_unlock(&w->mu);
        if (quit)
            event_base_loopbreak(w->base);
    }
}

/* Start one record on the worker's lane; a record that cannot start is a result at once. */
static void worker_start(struct worker *w, struct slot *s)
{
    struct runner *R = w->R;
    struct belt_error e;
    belt_error_clear(&e);
    s->w = w;
    json_t *rec = s->rec;
    s->rec = NULL;
    if (s->text) {
        belt_status st = belt_json_parse(s->text, s->len, R->input_name, s->lineno, &rec, &e);
        if (st == BELT_OK && !json_is_object(rec)) {
            json_decref(rec);
            rec = NULL;
            belt__error_set(&e, BELT_ERR_FORMAT, 0, "%s:%lld: expected a JSON object",
                            R->input_name, (long long)s->lineno);
        }
        BELT_FREE(s->text);
        if (!rec) {
            s->bad = 1;
            s->bad_msg = belt_strdup(e.msg);
            worker_result(w, s);
            return;
        }
    }
    struct belt__item_params ip = {R->line, rec, s->seq, s->lineno, s->review, item_done, s};
    w->busy++;
    if (belt__item_start(w->lane, &ip, NULL, &e) != BELT_OK) {
        w->busy--;
        s->bad = 1;
        s->bad_msg = belt_strdup(e.msg);
        worker_result(w, s);
    }
    json_decref(rec);
}

static void worker_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    pthread_mutex_lock(&w->mu);
    struct slot *s = w->in_head;
    w->in_head = w->in_tail = NULL;
    int quit = w->quit;
    pthread_mutex_unlock(&w->mu);
    w->in_wake = 1;
    while (s) {
        struct slot *next = s->next;
        s->next = NULL;
        worker_start(w, s);
        s = next;
    }
    w->in_wake = 0;
    push_results(w->R, w->done_head, w->done_tail);
    w->done_head = w->done_tail = NULL;
    if (quit && w->busy == 0)
        event_base_loopbreak(w->base);
}

static void worker_poke(struct worker *w)
{
    char c = 1;
    ssize_t n = write(w->pipe[1], &c, 1);
    (void)n; /* a full pipe already holds a wake-up */
}

static belt_status worker_setup(struct worker *w)
{
    struct runner *R = w->R;
    w->base = event_base_new();
    if (!w->base)
        return belt__error_set(&w->init_err, BELT_ERR_NOMEM, 0, "cannot create an event loop");
    belt_status st = belt_loop_new(R->e, w->base, &w->loop, &w->init_err);
    if (st != BELT_OK)
        return st;
    struct belt__lane_params lp = {R->e,        w->loop,     R->row.id, 1,
                                   R->p->cache, R->p->trace, R->gold,   R->n_gold};
    st = belt__lane_new(&lp, &w->lane, &w->init_err);
    if (st != BELT_OK)
        return st;
    w->wake_ev = event_new(w->base, w->pipe[0], EV_READ | EV_PERSIST, worker_wake, w);
    if (!w->wake_ev || event_add(w->wake_ev, NULL) != 0)
        return belt__error_set(&w->init_err, BELT_ERR_NOMEM, 0, "cannot watch the wake pipe");
    return BELT_OK;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct runner *R = w->R;
    w->init_st = worker_setup(w);
    pthread_mutex_lock(&R->mu);
    R->ready++;
    pthread_cond_broadcast(&R->cond);
    pthread_mutex_unlock(&R->mu);
    if (w->init_st == BELT_OK)
        event_base_dispatch(w->base);
    belt__lane_free(w->lane); /* cancels what is still in flight (never in a normal run) */
    w->lane = NULL;
    push_results(R, w->done_head, w->done_tail);
    w->done_head = w->done_tail = NULL;
    if (w->wake_ev)
        event_free(w->wake_ev);
    belt_loop_free(w->loop);
    if (w->base)
        event_base_free(w->base);
    return NULL;
}

static belt_status workers_start(struct runner *R, struct belt_error *err)
{
    for (int i = 0; i < R->n_w; i++) {
        struct worker *w = &R->w[i];
        w->R = R;
        w->index = i;
        w->pipe[0] = w->pipe[1] = -1;
        pthread_mutex_init(&w->mu, NULL);
        w->mu_init = 1;
        if (pipe(w->pipe) != 0)
            return belt__error_set(err, BELT_ERR_IO, errno, "pipe: %s", strerror(errno));
        fcntl(w->pipe[0], F_SETFL, O_NONBLOCK);
        fcntl(w->pipe[1], F_SETFL, O_NONBLOCK);
        if (pthread_create(&w->th, NULL, worker_main, w) != 0)
            return belt__error_set(err, BELT_ERR_INTERNAL, 0, "cannot start a worker thread");
        w->started = 1;
    }
    pthread_mutex_lock(&R->mu);
    while (R->ready < R->n_w)
        pthread_cond_wait(&R->cond, &R->mu);
    pthread_mutex_unlock(&R->mu);
    for (int i = 0; i < R->n_w; i++)
        if (R->w[i].init_st != BELT_OK) {
            if (err)
                *err = R->w[i].init_err;
            return R->w[i].init_st;
        }
    return BELT_OK;
}

static void workers_stop(struct runner *R)
{
    for (int i = 0; R->w && i < R->n_w; i++) {
        struct worker *w = &R->w[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_mutex_unlock(&w->mu);
        worker_poke(w);
    }
    for (int i = 0; R->w && i < R->n_w; i++) {
        struct worker *w = &R->w[i];
        if (w->started)
            pthread_join(w->th, NULL);
        w->started = 0;
        if (w->pipe[0] >= 0) {
            close(w->pipe[0]);
            close(w->pipe[1]);
            w->pipe[0] = w->pipe[1] = -1;
        }
        struct slot *s = w->in_head;
        w->in_head = w->in_tail = NULL;
        while (s) {
            struct slot *n = s->next;
            slot_free(s);
            s = n;
        }
        if (w->mu_init)
            pthread_mutex_destroy(&w->mu);
        w->mu_init = 0;
    }
}

static void dispatch(struct worker *w, struct slot *head, struct slot *tail)
{
    pthread_mutex_lock(&w->mu);
    int was_empty = w->in_head == NULL;
    if (w->in_tail)
        w->in_tail->next = head;
    else
        w->in_head = head;
    w->in_tail = tail;
    pthread_mutex_unlock(&w->mu);
    if (was_empty)
        worker_poke(w);
}

/* ---- input ----------------------------------------------------------------------------------- */

/* Read the next record into a new slot: 1 got one, 0 end of input, -1 fatal (R->fail). */
static int read_record(struct runner *R, struct slot **out)
{
    struct belt_error e;
    belt_error_clear(&e);
    struct slot *s = belt_calloc(1, sizeof(*s));
    if (!s) {
        R->fail = belt__error_set(&R->fail_err, BELT_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    s->seq = R->next_seq;
    if (R->p->reviewed) {
        if (R->next_review >= R->n_reviews) {
            belt_free(s);
            return 0;
        }
        s->review = belt_calloc(1, sizeof(*s->review));
        if (s->review)
            *s->review = R->reviews[R->next_review];
        memset(&R->reviews[R->next_review++], 0, sizeof(*R->reviews));
    } else if (R->cr) {
        belt_status st = belt_csv_next(R->cr, &s->rec, &e);
        s->lineno = belt_csv_lineno(R->cr);
        if (st == BELT_ERR_FORMAT) {
            s->bad = 1;
            s->bad_msg = belt_strdup(e.msg);
        } else if (st != BELT_OK) {
            belt_free(s);
            R->fail = belt__error_set(&R->fail_err, st, e.sub, "%s", e.msg);
            return -1;
        } else if (!s->rec) {
            belt_free(s);
            return 0;
        }
        R->read_off = belt_csv_offset(R->cr);
        R->read_lineno = s->lineno;
    } else {
        for (;;) {
            int got = 0;
            belt_status st = belt_line_reader_next(&R->lr, &got, &e);
            if (st != BELT_OK) {
                belt_free(s);
                R->fail = belt__error_set(&R->fail_err, st, e.sub, "%s", e.msg);
                return -1;
            }
            if (!got) {
                belt_free(s);
                return 0;
            }
            const char *t = belt_buf_cstr(&R->lr.line);
            size_t n = R->lr.line.len, k = 0;
            while (k < n && (t[k] == ' ' || t[k] == '\t' || t[k] == '\r'))
                k++;
            R->read_off = R->lr.offset;
            R->read_lineno = R->lr.lineno;
            if (k == n)
                continue; /* blank lines are not records */
            s->lineno = R->lr.lineno;
            s->text = belt_strndup(t, n);
            s->len = n;
            if (!s->text) {
                belt_free(s);
                R->fail = belt__error_set(&R->fail_err, BELT_ERR_NOMEM, 0, "out of memory");
                return -1;
            }
            break;
        }
    }
    s->in_end = R->read_off;
    s->in_lineno = R->read_lineno;
    R->next_seq++;
    *out = s;
    return 1;
}

#define FP_BYTES 65536 /* input bytes a checkpoint's fingerprint covers at most */

/* "LEN:SHA256" of the first `len` bytes of a file (the part a checkpoint has consumed, at
 * most FP_BYTES: a resumed run checks that this part is unchanged); NULL when unreadable. */
static char *input_fingerprint(const char *path, int64_t len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t want = (size_t)len;
    char *buf = belt_malloc(want ? want : 1);
    size_t got = buf ? fread(buf, 1, want, fp) : 0;
    fclose(fp);
    char hex[65], *out = NULL;
    if (buf) {
        belt_sha256_hex(buf, got, hex);
        struct belt_buf b;
        belt_buf_init(&b, 128);
        belt_buf_printf(&b, "%zu:%s", got, hex);
        out = belt_buf_detach(&b, NULL);
    }
    belt_free(buf);
    return out;
}

static int is_csv_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (strcmp(dot, ".csv") == 0 || strcmp(dot, ".tsv") == 0 ||
                   strcmp(dot, ".CSV") == 0 || strcmp(dot, ".TSV") == 0);
}

static belt_status open_input(struct runner *R, struct belt_error *err)
{
    const struct belt_line_run_params *p = R->p;
    if (p->reviewed)
        return BELT_OK;
    R->csv = p->input_format == BELT_LINE_INPUT_CSV ||
             (p->input_format == BELT_LINE_INPUT_AUTO && is_csv_name(p->input));
    if (R->csv) {
        struct belt_csv_params cp = belt_csv_default_params();
        const char *dot = strrchr(p->input, '.');
        if (dot && (strcmp(dot, ".tsv") == 0 || strcmp(dot, ".TSV") == 0))
            cp.delimiter = '\t';
        belt_status st = belt_csv_open(p->input, &cp, &R->cr, err);
        if (st != BELT_OK)
            return st;
        if (R->row.in_offset > 0) { /* resume: skip what the checkpoint covers */
            while (belt_csv_offset(R->cr) < R->row.in_offset) {
                json_t *rec = NULL;
                st = belt_csv_next(R->cr, &rec, err);
                if (st == BELT_OK && !rec)
                    break;
                json_decref(rec);
                if (st != BELT_OK && st != BELT_ERR_FORMAT)
                    return st;
            }
            if (belt_csv_offset(R->cr) != R->row.in_offset)
                return belt__error_set(err, BELT_ERR_FORMAT, 0,
                                       "%s: the checkpoint's position (byte %lld) is not at a "
                                       "record boundary: was the input changed?",
                                       p->input, (long long)R->row.in_offset);
        }
        R->read_off = R->row.in_offset;
        return BELT_OK;
    }
    belt_status st = belt_line_reader_open(&R->lr, p->input, 0, err);
    if (st != BELT_OK)
        return st;
    R->lr_open = 1;
    if (R->row.in_offset > 0)
        st = belt_line_reader_seek(&R->lr, R->row.in_offset, R->row.in_lineno, err);
    R->read_off = R->row.in_offset;
    R->read_lineno = R->row.in_lineno;
    return st;
}

/* Decided reviews of the line not yet continued, copied (oldest first). */
static int grab_review(void *ud, const struct belt_review_record *r)
{
    struct runner *R = ud;
    struct belt_review_record *v =
        belt_realloc(R->reviews, (R->n_reviews + 1) * sizeof(*R->reviews));
    if (!v)
        return 1;
    R->reviews = v;
    struct belt_review_record *c = &v[R->n_reviews];
    memset(c, 0, sizeof(*c));
    c->id = belt_strdup(r->id);
    c->status = r->status;
    c->payload_json = belt_strdup(r->payload_json ? r->payload_json : "{}");
    c->answer_json = r->answer_json ? belt_strdup(r->answer_json) : NULL;
    c->decision_json = r->decision_json ? belt_strdup(r->decision_json) : NULL;
    c->decided_by = r->decided_by ? belt_strdup(r->decided_by) : NULL;
    R->n_reviews++;
    return !c->id || !c->payload_json;
}

static void reviews_free(struct runner *R)
{
    for (size_t i = 0; i < R->n_reviews; i++) {
        belt_free((char *)R->reviews[i].id);
        belt_free((char *)R->reviews[i].payload_json);
        belt_free((char *)R->reviews[i].answer_json);
        belt_free((char *)R->reviews[i].decision_json);
        belt_free((char *)R->reviews[i].decided_by);
    }
    belt_free(R->reviews);
}

/* ---- the run row: new, resumed ------------------------------------------------------------- */

/* An absolute, normalised path for `path` (which may not exist yet). Owned. */
static char *abs_path(const char *path)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + (slash == path)), path);
    else
        snprintf(dir, sizeof(dir), ".");
    if (!realpath(dir, real))
        return NULL;
    struct belt_buf b;
    belt_buf_init(&b, PATH_MAX * 2);
    belt_buf_printf(&b, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
    return belt_buf_detach(&b, NULL);
}

static belt_status resume_row(struct runner *R, struct belt_error *err)
{
    const struct belt_line_run_params *p = R->p;
    struct belt__run_row *r = &R->row;
    if (p->reviewed) {
        /* a reviewed run interrupted earlier: its output is cut back, then a new run goes on */
        if (r->line && ftruncate(R->fd, r->out_offset) != 0)
            return belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", p->output, strerror(errno));
        return BELT_OK;
    }
    if (strcmp(r->config_hash, R->line->hash) != 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "line %s changed since run %s started: its output would mix two "
                               "configurations (start again with --overwrite)",
                               p->line, r->id);
    char *abs_in = abs_path(p->input);
    int same_input = abs_in && strcmp(abs_in, r->input) == 0;
    belt_free(abs_in);
    if (!same_input)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "run %s read %s, not %s (resume with the same input)", r->id,
                               r->input, p->input);
    if (r->input_fp) {
        int64_t len = strtoll(r->input_fp, NULL, 10);
        char *fp = input_fingerprint(p->input, len);
        int same = fp && strcmp(fp, r->input_fp) == 0;
        belt_free(fp);
        if (!same)
            return belt__error_set(err, BELT_ERR_INVALID, 0,
                                   "%s changed since run %s started (resume needs the same "
                                   "input; start again with --overwrite)",
                                   p->input, r->id);
    }
    struct stat sb;
    if (fstat(R->fd, &sb) != 0 || (int64_t)sb.st_size < r->out_offset)
        return belt__error_set(err, BELT_ERR_FORMAT, 0,
                               "%s is shorter than run %s's checkpoint (%lld bytes): was it "
                               "modified? (start again with --overwrite)",
                               p->output, r->id, (long long)r->out_offset);
    if (ftruncate(R->fd, r->out_offset) != 0)
        return belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", p->output, strerror(errno));
    if (r->stats) {
        json_t *j = json_loads(r->stats, 0, NULL);
        belt_status st = j ? belt__line_stats_from_json(&R->sum->stats, j, err)
                           : belt__error_set(err, BELT_ERR_FORMAT, 0,
                                             "run %s: its statistics are not JSON", r->id);
        json_decref(j);
        if (st != BELT_OK)
            return st;
    }
    R->next_seq = r->next_item;
    R->write_seq = r->next_item;
    return BELT_OK;
}

/* Open the output and find or create the run row. */
static belt_status prepare_run(struct runner *R, struct belt_error *err)
{
    const struct belt_line_run_params *p = R->p;
    char *out_abs = abs_path(p->output);
    if (!out_abs)
        return belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", p->output, strerror(errno));
    struct belt__run_row old;
    int found = belt__run_find_unfinished(R->st, p->line, out_abs, &old, err);
    belt_status st = found < 0 ? BELT_ERR_STORE : BELT_OK;
    int exists = belt_file_exists(p->output);
    struct stat sb;
    int nonempty = exists && stat(p->output, &sb) == 0 && sb.st_size > 0;
    if (st == BELT_OK && p->resume && !p->reviewed && found == 0 && nonempty)
        st = belt__error_set(err, BELT_ERR_NOTFOUND, 0,
                             "no unfinished run of line %s writes %s (was it finished?): start "
                             "again with --overwrite",
                             p->line, p->output);
    else if (st == BELT_OK && !p->resume && !p->overwrite && !p->reviewed && nonempty)
        st = belt__error_set(err, BELT_ERR_EXISTS, 0,
                             found ? "%s exists and run %s that wrote it is unfinished: add "
                                     "--resume to continue it, or --overwrite to start again"
                                   : "%s exists: add --overwrite to replace it",
                             p->output, found ? old.id : "");
    if (st == BELT_OK) {
        int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
        R->fd = open(p->output, flags, 0644);
        if (R->fd < 0)
            st = belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", p->output, strerror(errno));
    }
    if (st == BELT_OK && found == 1 && (p->resume || p->reviewed)) {
        R->row = old;
        memset(&old, 0, sizeof(old));
        st = resume_row(R, err);
        if (st == BELT_OK && p->reviewed) { /* the interrupted reviewed run ends here */
            belt__run_checkpoint(R->st, &R->row, "abandoned", NULL, 0, NULL);
            belt__run_row_free(&R->row);
        }
    }
    if (st == BELT_OK && !R->row.line) {
        if (!p->reviewed && ftruncate(R->fd, 0) != 0)
            st = belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", p->output, strerror(errno));
        if (st == BELT_OK && found == 1 && !p->reviewed)
            st = belt__run_abandon(R->st, p->line, out_abs, err);
        R->row.line = belt_strdup(p->line);
        R->row.input = p->reviewed ? belt_strdup("reviews") : abs_path(p->input);
        R->row.output = belt_strdup(out_abs);
        snprintf(R->row.config_hash, sizeof(R->row.config_hash), "%s", R->line->hash);
        R->row.input_fp = NULL; /* set by the first checkpoint */
        if (st == BELT_OK && (!R->row.line || !R->row.input || !R->row.output))
            st = belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
        if (st == BELT_OK)
            st = belt__run_insert(R->st, &R->row, err);
        struct stat ob;
        if (st == BELT_OK && p->reviewed && fstat(R->fd, &ob) == 0)
            R->row.out_offset = (int64_t)ob.st_size;
    }
    if (st == BELT_OK && lseek(R->fd, 0, SEEK_END) < 0)
        st = belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", p->output, strerror(errno));
    belt__run_row_free(&old);
    belt_free(out_abs);
    return st;
}

/* ---- output and checkpoints ----------------------------------------------------------------- */

static belt_status write_all(struct runner *R, struct belt_error *err)
{
    size_t off = 0;
    while (off < R->obuf.len) {
        ssize_t n = write(R->fd, R->obuf.data + off, R->obuf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", R->p->output,
                                   strerror(errno));
        off += (size_t)n;
    }
    belt_buf_reset(&R->obuf);
    return BELT_OK;
}

static void pending_free(struct runner *R)
{
    for (size_t i = 0; i < R->n_pending; i++) {
        belt_free(R->pending[i].reason);
        belt_free(R->pending[i].resumed_review);
    }
    R->n_pending = 0;
}

/* Write the buffered lines, make them durable, then commit the position that covers them. */
static belt_status checkpoint(struct runner *R, const char *status, struct belt_error *err)
{
    belt_status st = write_all(R, err);
    if (st == BELT_OK && fdatasync(R->fd) != 0)
        st = belt__error_set(err, BELT_ERR_IO, errno, "%s: %s", R->p->output, strerror(errno));
    if (st != BELT_OK)
        return st;
    if (R->in_size >= 0 && !R->p->reviewed) {
        int64_t len = R->row.in_offset < FP_BYTES ? R->row.in_offset : FP_BYTES;
        if (!R->row.input_fp || strtoll(R->row.input_fp, NULL, 10) != len) {
            belt_free(R->row.input_fp);
            R->row.input_fp = input_fingerprint(R->p->input, len);
        }
    }
    json_t *j = belt__line_stats_to_json(&R->sum->stats);
    belt_free(R->row.stats);
    R->row.stats = j ? belt_json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    st = belt__run_checkpoint(R->st, &R->row, status, R->pending, R->n_pending, err);
    if (st == BELT_OK)
        pending_free(R);
    R->since_ckpt = 0;
    R->last_ckpt_ms = belt_wall_ms();
    return st;
}

static int add_pending(struct runner *R, const struct slot *s, const char *status)
{
    if (R->n_pending == R->cap_pending) {
        size_t cap = R->cap_pending ? R->cap_pending * 2 : 64;
        struct belt__run_item *v = belt_realloc(R->pending, cap * sizeof(*v));
        if (!v)
            return -1;
        R->pending = v;
        R->cap_pending = cap;
    }
    struct belt__run_item *it = &R->pending[R->n_pending++];
    memset(it, 0, sizeof(*it));
    it->item = s->seq;
    it->lineno = s->lineno;
    it->status = status;
    it->reason = s->bad      ? (s->bad_msg ? belt_strdup(s->bad_msg) : NULL)
                 : s->reason ? belt_strdup(s->reason)
                             : NULL;
    snprintf(it->review_id, sizeof(it->review_id), "%s", s->review_id);
    if (s->review)
        it->resumed_review = belt_strdup(s->review->id);
    return 0;
}

/* Write one finished slot (in order). Returns 0, or -1 when a bad record stops the run. */
static int write_slot(struct runner *R, struct slot *s)
{
    if (s->bad && R->p->stop_on_bad_input && !s->review) {
        R->stop_bad = 1;
        if (R->p->on_bad_input)
            R->p->on_bad_input(R->p->bad_input_ud, s->lineno, s->bad_msg ? s->bad_msg : "");
        belt__error_set(&R->fail_err, BELT_ERR_FORMAT, 0, "%s", s->bad_msg ? s->bad_msg : "");
        return -1;
    }
    if (s->bad) {
        R->sum->stats.bad_input++;
        if (R->p->on_bad_input)
            R->p->on_bad_input(R->p->bad_input_ud, s->lineno, s->bad_msg ? s->bad_msg : "");
        add_pending(R, s, s->review ? "error" : "bad_input");
    } else {
        belt__line_stats_apply(&R->sum->stats, &s->delta);
        if (belt_buf_append(&R->obuf, s->out, s->out_len) != BELT_OK) {
            R->fail = belt__error_set(&R->fail_err, BELT_ERR_NOMEM, 0, "out of memory");
            return -1;
        }
        R->row.out_offset += (int64_t)s->out_len;
        R->sum->items_this_time++;
        if (s->outcome != BELT__ITEM_OK || s->review)
            add_pending(R, s, belt__item_outcome_name(s->outcome));
    }
    R->row.next_item = s->seq + 1;
    R->row.in_offset = s->in_end;
    R->row.in_lineno = s->in_lineno;
    R->since_ckpt++;
    return 0;
}

/* Move finished slots into the ring and write those that are next in order. */
static void collect(struct runner *R, struct slot *list)
{
    while (list) {
        struct slot *s = list;
        list = s->next;
        s->next = NULL;
        R->ring[(size_t)(s->seq % (int64_t)R->cap)] = s;
        if (s->w) /* it went through a worker (reader-rejected records did not) */
            R->in_flight--;
    }
    for (;;) {
        struct slot **cell = &R->ring[(size_t)(R->write_seq % (int64_t)R->cap)];
        struct slot *s = *cell;
        if (!s || s->seq != R->write_seq || R->stop_bad || R->fail != BELT_OK)
            break;
        *cell = NULL;
        if (write_slot(R, s) == 0)
            R->write_seq++;
        slot_free(s);
        if (R->obuf.len > ((size_t)1 << 20) && write_all(R, &R->fail_err) != BELT_OK)
            R->fail = R->fail_err.code;
    }
}

/* ---- progress -------------------------------------------------------------------------------- */

static void progress(struct runner *R, int64_t now_ms)
{
    const struct belt_line_run_params *p = R->p;
    if (!p->progress)
        return;
    int64_t interval = p->progress_ms > 0 ? p->progress_ms : 250;
    if (now_ms - R->last_prog_ms < interval)
        return;
    R->last_prog_ms = now_ms;
    const struct belt__line_stats *t = &R->sum->stats;
    size_t k = R->rate_i % 8, oldest = (R->rate_i + 1) % 8;
    R->rate_t[k] = now_ms;
    R->rate_n[k] = R->sum->items_this_time;
    R->rate_i++;
    if (R->rate_i < 8)
        oldest = 0;
    struct belt_line_progress pr;
    memset(&pr, 0, sizeof(pr));
    pr.items = (int64_t)t->items;
    pr.in_flight = R->in_flight;
    pr.bad_input = (int64_t)t->bad_input;
    pr.reviews = (int64_t)t->review;
    pr.dropped = (int64_t)t->dropped;
    pr.errors = (int64_t)t->errors;
    pr.escalations = (int64_t)t->escalations;
    pr.cost_usd = t->cost_usd;
    double dt = (double)(R->rate_t[k] - R->rate_t[oldest]) / 1000.0;
    pr.items_per_s = dt > 0 ? (double)(R->rate_n[k] - R->rate_n[oldest]) / dt : 0;
    pr.elapsed_ms = now_ms - R->t0_ms;
    pr.fraction = R->in_size > 0 ? (double)R->row.in_offset / (double)R->in_size : -1;
    if (p->limit > 0 && (double)R->row.next_item / (double)p->limit > pr.fraction)
        pr.fraction = (double)R->row.next_item / (double)p->limit;
    if (R->p->reviewed)
        pr.fraction = R->n_reviews ? (double)R->write_seq / (double)R->n_reviews : 1;
    pr.eta_s = -1;
    if (pr.fraction > 0 && pr.fraction < 1 && pr.items_per_s > 0 && R->row.next_item > 0) {
        double total = (double)R->row.next_item / pr.fraction;
        pr.eta_s = (total - (double)R->row.next_item) / pr.items_per_s;
    }
    p->progress(p->progress_ud, &pr);
}

/* ---- the main loop --------------------------------------------------------------------------- */

static int stop_requested(const struct runner *R)
{
    return R->p->stop && *R->p->stop;
}

/* Read records and hand them to the workers while there is room. */
static void feed(struct runner *R, int64_t window)
{
    struct slot *heads[64] = {0}, *tails[64] = {0};
    int n_w = R->n_w < 64 ? R->n_w : 64;
    size_t batch = (size_t)(window / n_w > 64 ? 64 : window / n_w > 0 ? window / n_w : 1);
    size_t count = 0;
    while (!R->eof && R->in_flight < window && R->next_seq - R->write_seq < (int64_t)R->cap - 1 &&
           !stop_requested(R) && !R->stop_bad && R->fail == BELT_OK) {
        if (R->p->limit > 0 && R->next_seq >= R->p->limit) {
            R->eof = 1;
            R->limit_hit = 1;
            break;
        }
        struct slot *s = NULL;
        int got = read_record(R, &s);
        if (got <= 0) {
            R->eof = 1;
            break;
        }
        if (s->bad) { /* rejected by the reader: straight to the ring */
            collect(R, s);
            continue;
        }
        R->in_flight++;
        int w = (int)(s->seq % n_w);
        if (tails[w])
            tails[w]->next = s;
        else
            heads[w] = s;
        tails[w] = s;
        if (++count % batch == 0)
            for (int i = 0; i < n_w; i++)
                if (heads[i]) {
                    dispatch(&R->w[i], heads[i], tails[i]);
                    heads[i] = tails[i] = NULL;
                }
    }
    for (int i = 0; i < n_w; i++)
        if (heads[i])
            dispatch(&R->w[i], heads[i], tails[i]);
}

static struct slot *wait_results(struct runner *R, int64_t ms)
{
    pthread_mutex_lock(&R->mu);
    if (!R->out_head && ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&R->cond, &R->mu, &ts);
    }
    struct slot *list = R->out_head;
    R->out_head = R->out_tail = NULL;
    pthread_mutex_unlock(&R->mu);
    return list;
}

static void main_loop(struct runner *R)
{
    const struct belt_line_run_params *p = R->p;
    int64_t window = p->concurrency > 0 ? p->concurrency : R->line->concurrency;
    int64_t ck_ms = p->checkpoint_ms > 0 ? p->checkpoint_ms : 1000;
    int64_t ck_items = p->checkpoint_items > 0 ? p->checkpoint_items : 10000;
    for (;;) {
        feed(R, window);
        if (R->in_flight == 0 && (R->eof || stop_requested(R) || R->stop_bad || R->fail != BELT_OK))
            break;
        collect(R, wait_results(R, 50));
        int64_t now = belt_wall_ms();
        if (R->fail == BELT_OK && !R->stop_bad &&
            (R->since_ckpt >= ck_items || (R->since_ckpt > 0 && now - R->last_ckpt_ms >= ck_ms))) {
            belt_status st = checkpoint(R, "running", &R->fail_err);
            if (st != BELT_OK)
                R->fail = st;
        }
        progress(R, now);
    }
    /* whatever is still in the ring after a stop is not written: the checkpoint excludes it */
    for (size_t i = 0; i < R->cap; i++) {
        slot_free(R->ring[i]);
        R->ring[i] = NULL;
    }
}

/* ---- entry points ---------------------------------------------------------------------------- */

struct belt_line_run_params belt_line_run_default_params(void)
{
    struct belt_line_run_params p;
    memset(&p, 0, sizeof(p));
    p.cache = -1;
    p.trace = -1;
    p.checkpoint_ms = 1000;
    p.checkpoint_items = 10000;
    p.progress_ms = 250;
    return p;
}

static belt_status check_params(struct belt_engine *e, const struct belt_line_run_params *p,
                                const struct belt_cfg_line **line, struct belt_error *err)
{
    if (!e || !p || !p->line || !p->output || (!p->input && !p->reviewed))
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "a run needs an engine, a line, an input and an output");
    *line = belt__cfg_lines_find(&belt_engine_config(e)->lines, p->line);
    if (!*line)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no line '%s' in %s", p->line,
                               belt_config_file(belt_engine_config(e)));
    if (p->input && strcmp(p->input, "-") == 0 && p->resume)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "a run reading stdin cannot resume");
    if (!e->store_path)
        return belt__error_set(err, BELT_ERR_INVALID, 0,
                               "a run needs a store for its checkpoints (store.path)");
    if (p->input && !p->reviewed && strcmp(p->input, "-") != 0 && !belt_file_exists(p->input))
        return belt__error_set(err, BELT_ERR_IO, ENOENT, "%s: no such file", p->input);
    return BELT_OK;
}

static void runner_free(struct runner *R)
{
    workers_stop(R);
    struct slot *s = R->out_head;
    while (s) {
        struct slot *n = s->next;
        slot_free(s);
        s = n;
    }
    for (size_t i = 0; R->ring && i < R->cap; i++)
        slot_free(R->ring[i]);
    belt_free(R->ring);
    belt_free(R->w);
    pending_free(R);
    belt_free(R->pending);
    if (R->lr_open)
        belt_line_reader_deinit(&R->lr);
    belt_csv_close(R->cr);
    reviews_free(R);
    for (size_t i = 0; i < R->n_gold; i++)
        belt__gold_free(&R->gold[i]);
    belt_free(R->gold);
    belt__run_row_free(&R->row);
    belt_buf_deinit(&R->obuf);
    if (R->fd >= 0)
        close(R->fd);
    belt_store_close(R->st);
    pthread_mutex_destroy(&R->mu);
    pthread_cond_destroy(&R->cond);
}

static belt_status runner_init(struct runner *R, struct belt_engine *e,
                               const struct belt_line_run_params *p, struct belt_error *err)
{
    memset(R, 0, sizeof(*R));
    R->fd = -1;
    R->e = e;
    R->p = p;
    R->in_size = -1;
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->cond, NULL);
    belt_buf_init(&R->obuf, 0);
    belt_status st = check_params(e, p, &R->line, err);
    if (st != BELT_OK)
        return st;
    R->input_name = p->reviewed ? "reviews" : strcmp(p->input, "-") == 0 ? "<stdin>" : p->input;
    struct stat sb;
    if (!p->reviewed && strcmp(p->input, "-") != 0 && stat(p->input, &sb) == 0 &&
        S_ISREG(sb.st_mode))
        R->in_size = (int64_t)sb.st_size;
    R->gold = belt_calloc(p->n_gold ? p->n_gold : 1, sizeof(*R->gold));
    if (!R->gold)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < p->n_gold; i++) {
        st = belt__gold_parse(R->line, p->gold[i], &R->gold[i], err);
        if (st != BELT_OK)
            return st;
        R->n_gold = i + 1;
    }
    R->sum = belt__summary_new(R->line, p->gold, p->n_gold);
    if (!R->sum)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    R->sum->reviewed = p->reviewed;
    struct belt_store_params sp = belt_store_default_params();
    sp.path = e->store_path;
    st = belt_store_open(&sp, &R->st, err);
    if (st == BELT_OK)
        st = prepare_run(R, err);
    if (st == BELT_OK && p->reviewed)
        st = belt_review_resumable(R->st, p->line, grab_review, R, err);
    if (st == BELT_OK)
        st = open_input(R, err);
    if (st != BELT_OK)
        return st;
    snprintf(R->sum->run_id, sizeof(R->sum->run_id), "%s", R->row.id);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    R->n_w = p->threads > 0 ? p->threads : cpus > 0 ? (int)cpus : 1;
    if (R->n_w > 16)
        R->n_w = 16;
    int64_t window = p->concurrency > 0 ? p->concurrency : R->line->concurrency;
    R->cap = (size_t)window * 4 + 1024;
    R->ring = belt_calloc(R->cap, sizeof(*R->ring));
    R->w = belt_calloc((size_t)R->n_w, sizeof(*R->w));
    if (!R->ring || !R->w)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    return workers_start(R, err);
}

belt_status belt_line_run(struct belt_engine *e, const struct belt_line_run_params *p,
                          struct belt_line_summary **out, struct belt_error *err)
{
    *out = NULL;
    struct runner R;
    int64_t t0 = belt_now_us();
    belt_status st = runner_init(&R, e, p, err);
    if (st != BELT_OK) {
        if (R.row.id[0] && R.st) /* the run row exists: leave it resumable */
            belt__run_checkpoint(R.st, &R.row, "stopped", NULL, 0, NULL);
        belt_line_summary_free(R.sum);
        runner_free(&R);
        return st;
    }
    R.t0_ms = R.last_ckpt_ms = R.last_prog_ms = belt_wall_ms();
    belt_error_clear(&R.fail_err);
    main_loop(&R);
    int stopped = stop_requested(&R) && !R.eof;
    int complete = R.eof && !R.limit_hit && R.fail == BELT_OK && !R.stop_bad;
    const char *status = R.fail != BELT_OK || R.stop_bad ? "failed" : complete ? "done" : "stopped";
    belt_status ck = R.fail == BELT_OK ? checkpoint(&R, status, &R.fail_err) : R.fail;
    workers_stop(&R);
    belt_engine_flush(e, 10000, NULL);
    struct belt_line_summary *sum = R.sum;
    R.sum = NULL;
    sum->complete = complete && ck == BELT_OK;
    sum->seconds = (double)(belt_now_us() - t0) / 1e6;
    if (R.stop_bad)
        sum->stopped = belt_strdup("stopped at a bad input record");
    else if (stopped)
        sum->stopped = belt_strdup("stopped (continue with --resume)");
    else if (R.limit_hit)
        sum->stopped = belt_strdup("stopped at --limit (continue with --resume)");
    if (R.fail != BELT_OK || ck != BELT_OK)
        st = belt__error_set(err, R.fail != BELT_OK ? R.fail : ck, R.fail_err.sub, "%s",
                             R.fail_err.msg);
    else if (R.stop_bad)
        st = belt__error_set(err, BELT_ERR_FORMAT, 0, "%s", R.fail_err.msg);
    else if (stopped)
        st = belt__error_set(err, BELT_ERR_CANCELLED, 0, "stopped; continue with --resume");
    runner_free(&R);
    *out = sum;
    return st;
}
