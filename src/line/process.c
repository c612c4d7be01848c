/*
 * process.c — one record through a line on a private event loop (belt_line_process), for
 * programs without a loop and for tests.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <string.h>

#include "config/config.h"
#include "engine/engine.h"
#include "line/exec.h"
#include "util/error.h"
#include "util/json.h"

struct one {
    struct event_base *base;
    char *out;
    int outcome;
    belt_status st;
    int done;
};

static void one_done(void *ud, struct belt__item *it)
{
    struct one *o = ud;
    struct belt_buf b;
    belt_buf_init(&b, 0);
    o->st = belt__item_dump(it, &b);
    if (o->st == BELT_OK) {
        if (b.len && b.data[b.len - 1] == '\n')
            b.data[--b.len] = '\0';
        o->out = belt_buf_detach(&b, NULL);
    }
    belt_buf_deinit(&b);
    o->outcome = belt__item_outcome(it);
    o->done = 1;
    belt__item_free(it);
    event_base_loopbreak(o->base);
}

belt_status belt_line_process(struct belt_engine *e, const char *line, const char *record_json,
                              size_t len, char **out_json, int *outcome, struct belt_error *err)
{
    *out_json = NULL;
    if (outcome)
        *outcome = BELT_LINE_ERROR;
    const struct belt_cfg_line *l =
        e && line ? belt__cfg_lines_find(&belt_engine_config(e)->lines, line) : NULL;
    if (!l)
        return belt__error_set(err, BELT_ERR_NOTFOUND, 0, "no line '%s'", line ? line : "");
    json_t *rec = NULL;
    belt_status st = belt_json_parse(record_json, len, "record", 0, &rec, err);
    if (st != BELT_OK)
        return st == BELT_ERR_NOMEM ? st : BELT_ERR_INVALID;
    if (!json_is_object(rec)) {
        json_decref(rec);
        return belt__error_set(err, BELT_ERR_INVALID, 0, "the record must be a JSON object");
    }
    struct one o = {event_base_new(), NULL, BELT_LINE_ERROR, BELT_OK, 0};
    struct belt_loop *loop = NULL;
    struct belt__lane *lane = NULL;
    if (!o.base)
        st = belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot create an event loop");
    if (st == BELT_OK)
        st = belt_loop_new(e, o.base, &loop, err);
    struct belt__lane_params lp = {e, loop, NULL, 1, -1, -1, NULL, 0};
    if (st == BELT_OK)
        st = belt__lane_new(&lp, &lane, err);
    struct belt__item_params ip = {l, rec, -1, 0, NULL, one_done, &o};
    if (st == BELT_OK)
        st = belt__item_start(lane, &ip, NULL, err);
    while (st == BELT_OK && !o.done)
        if (event_base_dispatch(o.base) != 0 && !o.done)
            st = belt__error_set(err, BELT_ERR_INTERNAL, 0, "the item is stuck: no event left");
    if (st == BELT_OK && o.st != BELT_OK)
        st = belt__error_set(err, o.st, 0, "out of memory");
    if (st == BELT_OK) {
        *out_json = o.out;
        o.out = NULL;
        if (outcome)
            *outcome = o.outcome;
    }
    belt_free(o.out);
    belt__lane_free(lane);
    belt_loop_free(loop);
    if (o.base)
        event_base_free(o.base);
    json_decref(rec);
    return st;
}
