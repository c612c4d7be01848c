/*
 * answer.c — copies of answers that outlive their callback (belt_answer_copy/free): one block
 * for the struct, attempts, label scores and every string, plus a reference to the response.
 */
#include "belt_config.h"

#include <jansson.h>
#include <string.h>

#include "model/call.h"
#include "util/buf.h"

/* Bytes of a string copy (0 for NULL). */
static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

static size_t answer_bytes(const struct belt_answer *a)
{
    size_t n = sizeof(*a) + a->n_attempts * sizeof(struct belt_attempt) +
               a->n_top_k * sizeof(struct belt_label_prob);
    n += slen(a->error) + slen(a->error_body) + slen(a->model) + slen(a->deployment) +
         slen(a->provider) + slen(a->response_model) + slen(a->response_id) +
         slen(a->finish_reason) + slen(a->label) + a->content_len + 1 + a->body_len + 1;
    for (size_t i = 0; i < a->n_attempts; i++)
        n += slen(a->attempts[i].model) + slen(a->attempts[i].deployment) +
             slen(a->attempts[i].why) + slen(a->attempts[i].error);
    for (size_t i = 0; i < a->n_top_k; i++)
        n += slen(a->top_k[i].label);
    return n;
}

static char *put_n(char **p, const char *s, size_t n)
{
    char *r = *p;
    if (n)
        memcpy(r, s, n);
    r[n] = '\0';
    *p += n + 1;
    return r;
}

struct belt_answer *belt__answer_copy(const struct belt_answer *a)
{
    char *block = belt_malloc(answer_bytes(a));
    if (!block)
        return NULL;
    struct belt_answer *c = (struct belt_answer *)block;
    *c = *a;
    char *p = block + sizeof(*c);
    struct belt_attempt *att = (struct belt_attempt *)p;
    p += a->n_attempts * sizeof(*att);
    struct belt_label_prob *top = a->n_top_k ? (struct belt_label_prob *)p : NULL;
    p += a->n_top_k * sizeof(*top);
    for (size_t i = 0; i < a->n_attempts; i++) {
        att[i] = a->attempts[i];
        att[i].model = put(&p, a->attempts[i].model);
        att[i].deployment = put(&p, a->attempts[i].deployment);
        att[i].why = put(&p, a->attempts[i].why);
        att[i].error = put(&p, a->attempts[i].error);
    }
    for (size_t i = 0; i < a->n_top_k; i++) {
        top[i] = a->top_k[i];
        top[i].label = put(&p, a->top_k[i].label);
    }
    c->attempts = a->n_attempts ? att : NULL;
    c->top_k = top;
    c->error = put(&p, a->error);
    c->error_body = put(&p, a->error_body);
    c->model = put(&p, a->model);
    c->deployment = put(&p, a->deployment);
    c->provider = put(&p, a->provider);
    c->response_model = put(&p, a->response_model);
    c->response_id = put(&p, a->response_id);
    c->finish_reason = put(&p, a->finish_reason);
    c->label = put(&p, a->label);
    c->content = put_n(&p, a->content ? a->content : "", a->content_len);
    c->body = put_n(&p, a->body ? a->body : "", a->body_len);
    c->response = a->response ? json_incref((json_t *)a->response) : NULL;
    c->tool_calls =
        c->response
            ? json_object_get(
                  json_object_get(json_array_get(json_object_get(c->response, "choices"), 0),
                                  "message"),
                  "tool_calls")
            : NULL;
    return c;
}

struct belt_answer *belt_answer_copy(const struct belt_answer *a)
{
    return a ? belt__answer_copy(a) : NULL;
}

void belt_answer_free(struct belt_answer *a)
{
    if (!a)
        return;
    json_decref((json_t *)a->response);
    belt_free(a);
}
