/*
 * upstream.c — libcurl multi_socket on a libevent loop (see upstream.h). The classic pairing:
 * curl tells us which sockets to watch (socket callback) and when to wake it (timer callback);
 * libevent tells curl when a socket is ready; finished transfers are collected with
 * curl_multi_info_read after every curl_multi_socket_action. Transfers are recycled through a
 * free list together with their easy handle (whose per-handle options are set once) and their
 * response buffer, so steady traffic allocates neither.
 */
#include "belt_config.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "upstream/upstream.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#define FREE_XFER_MAX 64                 /* recycled transfers per loop */
#define KEEP_RESP_MAX ((size_t)64 << 10) /* larger response buffers are not kept */

struct belt_upstream {
    struct event_base *base;      /* borrowed */
    CURLM *multi;                 /* owned */
    struct event *timer;          /* curl's timeout */
    struct event *reap_ev;        /* frees transfers cancelled inside curl callbacks */
    struct belt_xfer *reap;       /* list of transfers waiting to be freed */
    struct belt_xfer *active;     /* doubly linked list of running transfers */
    size_t n_active;              /* transfers running */
    int in_curl;                  /* depth of curl_multi_socket_action calls */
    struct belt_xfer *free_xfers; /* recycled transfers (linked by next_reap), with easy */
    size_t n_free;                /* their number */
    int no_proxy_env;             /* no proxy variable is set: tell curl not to look */
    struct sock_ctx **socks;      /* watched sockets by fd (active or parked), owned */
    size_t n_socks;               /* room in socks */
};

struct belt_xfer {
    struct belt_upstream *u;       /* owner */
    CURL *easy;                    /* owned while the transfer lives */
    struct belt_xfer *prev, *next; /* active list */
    struct belt_xfer *next_reap;   /* reap list */
    char *body;                    /* request body; owned */
    belt_xfer_data_fn *on_data;    /* streaming receiver */
    belt_xfer_done_fn *on_done;    /* completion */
    void *ud;                      /* for both */
    int stream;                    /* stream 2xx bodies */
    int attached;                  /* added to the multi handle */
    int cancelled;                 /* no more callbacks */
    int aborted;                   /* on_data asked to stop */
    int too_big;                   /* response over the limit */
    int http_status;               /* known after the first body byte or at the end */
    struct belt_buf resp;          /* buffered body */
    char ctype[128];               /* Content-Type */
    char retry_after[64];          /* Retry-After */
    int64_t start_us;              /* when started */
    int64_t first_byte_us;         /* first body byte */
    char errbuf[CURL_ERROR_SIZE];  /* curl's message */
};

/* Per watched socket. When curl stops watching a kept-alive connection (CURL_POLL_REMOVE) the
 * socket stays registered for reading ("parked"), so that the next transfer on it costs no
 * epoll_ctl: only a change of interest does. A parked socket that turns readable (the peer
 * closed it) is dropped; curl's own liveness check finds it dead before reuse. A socket curl
 * closes is dropped first (CURLOPT_CLOSESOCKETFUNCTION), so a reused fd number never meets a
 * stale registration. */
struct sock_ctx {
    struct belt_upstream *u; /* owner */
    struct event *ev;        /* read/write interest */
    curl_socket_t fd;        /* the socket */
    short kind;              /* the event's current flags */
    int parked;              /* curl is not watching it (an idle pooled connection) */
};

/* ---- curl <-> libevent plumbing ----------------------------------------------------------- */

static void check_done(struct belt_upstream *u);

static void drive(struct belt_upstream *u, curl_socket_t fd, int flags)
{
    int running = 0;
    u->in_curl++;
    curl_multi_socket_action(u->multi, fd, flags, &running);
    u->in_curl--;
    check_done(u);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg);

static struct sock_ctx *sock_get(const struct belt_upstream *u, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < u->n_socks ? u->socks[fd] : NULL;
}

static int sock_put(struct belt_upstream *u, curl_socket_t fd, struct sock_ctx *sc)
{
    if ((size_t)fd >= u->n_socks) {
        size_t n = BELT_MAX((size_t)fd + 1, u->n_socks * 2);
        struct sock_ctx **v = belt_realloc(u->socks, n * sizeof(*v));
        if (!v)
            return -1;
        memset(v + u->n_socks, 0, (n - u->n_socks) * sizeof(*v));
        u->socks = v;
        u->n_socks = n;
    }
    u->socks[fd] = sc;
    return 0;
}

static void sock_drop(struct sock_ctx *sc)
{
    sc->u->socks[sc->fd] = NULL;
    event_free(sc->ev);
    belt_free(sc);
}

/* Set the event's interest; no system call when it is already that. */
static void sock_want(struct sock_ctx *sc, short kind)
{
    if (sc->kind == kind)
        return;
    event_del(sc->ev);
    event_assign(sc->ev, sc->u->base, sc->fd, kind, on_socket_event, sc);
    event_add(sc->ev, NULL);
    sc->kind = kind;
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct sock_ctx *sc = arg;
    struct belt_upstream *u = sc->u;
    if (sc->parked) { /* an idle pooled connection woke up: closed by the peer, or noise */
        BELT_LOG_D("upstream: pooled connection (fd %d) readable while idle: no longer watched",
                   (int)fd);
        sock_drop(sc);
        return;
    }
    int flags =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    drive(u, (curl_socket_t)fd, flags);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct belt_upstream *u = userp;
    struct sock_ctx *sc = socketp ? socketp : sock_get(u, s);
    (void)easy;
    if (what == CURL_POLL_REMOVE) { /* park it: reading, until reused, dropped or closed */
        if (sc) {
            curl_multi_assign(u->multi, s, NULL);
            sc->parked = 1;
            sock_want(sc, EV_READ | EV_PERSIST);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!sc) {
        sc = belt_calloc(1, sizeof(*sc));
        if (!sc)
            return -1;
        sc->u = u;
        sc->fd = s;
        sc->kind = kind;
        sc->ev = event_new(u->base, s, kind, on_socket_event, sc);
        if (!sc->ev || sock_put(u, s, sc) != 0 || event_add(sc->ev, NULL) != 0) {
            if (sc->ev)
                event_free(sc->ev);
            if (sock_get(u, s) == sc)
                u->socks[s] = NULL;
            belt_free(sc);
            return -1;
        }
    } else {
        sock_want(sc, kind);
    }
    sc->parked = 0;
    curl_multi_assign(u->multi, s, sc);
    return 0;
}

/* curl closes a socket: forget it first (its fd number may come back for another). */
static int close_cb(void *clientp, curl_socket_t s)
{
    struct sock_ctx *sc = sock_get(clientp, s);
    if (sc)
        sock_drop(sc);
    return close(s);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct belt_upstream *u = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
    return 0;
}

/* ---- transfers ---------------------------------------------------------------------------- */

static void unlink_active(struct belt_xfer *x)
{
    struct belt_upstream *u = x->u;
    if (x->prev)
        x->prev->next = x->next;
    else if (u->active == x)
        u->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

/* Detach from curl and release; the transfer (with its easy handle and response buffer) goes
 * back to the free list. No curl_easy_reset: setup_easy sets every option that differs
 * between transfers, and keeping the handle's state keeps its buffers. */
static void xfer_free(struct belt_xfer *x)
{
    struct belt_upstream *u = x->u;
    if (x->attached) {
        curl_multi_remove_handle(u->multi, x->easy);
        x->attached = 0;
        u->n_active--;
        unlink_active(x);
    }
    belt_free(x->body);
    x->body = NULL;
    if (x->easy && u->n_free < FREE_XFER_MAX && x->resp.cap <= KEEP_RESP_MAX) {
        x->next_reap = u->free_xfers;
        u->free_xfers = x;
        u->n_free++;
        return;
    }
    if (x->easy)
        curl_easy_cleanup(x->easy);
    belt_buf_deinit(&x->resp);
    belt_free(x);
}

/* Deferred work: free transfers cancelled inside curl callbacks, and collect transfers that
 * finished during a kick from belt__xfer_start. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct belt_upstream *u = arg;
    (void)fd;
    (void)what;
    while (u->reap) {
        struct belt_xfer *x = u->reap;
        u->reap = x->next_reap;
        xfer_free(x);
    }
    if (fd != -2)
        check_done(u);
}

static size_t header_cb(char *data, size_t size, size_t n, void *ud)
{
    struct belt_xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response (after 100 Continue) */
        x->ctype[0] = '\0';
        x->retry_after[0] = '\0';
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    char *dst = NULL;
    size_t cap = 0;
    if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
        dst = x->ctype;
        cap = sizeof(x->ctype);
    } else if (nlen == 11 && strncasecmp(data, "retry-after", 11) == 0) {
        dst = x->retry_after;
        cap = sizeof(x->retry_after);
    }
    if (dst) {
        size_t k = BELT_MIN(vlen, cap - 1);
        memcpy(dst, v, k);
        dst[k] = '\0';
    }
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
    struct belt_xfer *x = ud;
    size_t len = size * n;
    if (x->cancelled)
        return 0;
    if (!x->first_byte_us) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        x->http_status = (int)code;
        x->first_byte_us = belt_now_us();
    }
    if (x->stream && x->http_status >= 200 && x->http_status < 300) {
        if (x->on_data(x->ud, x, data, len) != 0) {
            x->aborted = 1;
            return 0;
        }
        return x->cancelled ? 0 : len;
    }
    if (belt_buf_append(&x->resp, data, len) != BELT_OK) {
        x->too_big = 1;
        return 0;
    }
    return len;
}

static belt_status map_curl(const struct belt_xfer *x, CURLcode rc, const char **msg)
{
    if (x->aborted) {
        *msg = "aborted by the receiver";
        return BELT_ERR_UPSTREAM;
    }
    if (x->too_big) {
        *msg = "upstream response exceeds the size limit";
        return BELT_ERR_TOOBIG;
    }
    *msg = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return BELT_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return BELT_ERR_IO;
    default:
        return BELT_ERR_UPSTREAM;
    }
}

static void finish(struct belt_upstream *u, struct belt_xfer *x, CURLcode rc)
{
    curl_multi_remove_handle(u->multi, x->easy);
    x->attached = 0;
    u->n_active--;
    unlink_active(x);
    if (x->cancelled)
        return; /* already on the reap list */
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    struct belt_xfer_result r;
    memset(&r, 0, sizeof(r));
    r.curl_code = (int)rc;
    r.http_status = (int)code;
    r.error = "";
    r.status = rc == CURLE_OK ? BELT_OK : map_curl(x, rc, &r.error);
    r.body = belt_buf_cstr(&x->resp);
    r.body_len = x->resp.len;
    r.content_type = x->ctype;
    r.retry_after = x->retry_after;
    int64_t now = belt_now_us();
    r.latency_us = now - x->start_us;
    r.ttfb_us = x->first_byte_us ? x->first_byte_us - x->start_us : 0;
    x->on_done(x->ud, x, &r);
    xfer_free(x);
}

static void check_done(struct belt_upstream *u)
{
    int left = 0;
    CURLMsg *m;
    for (;;) {
        m = curl_multi_info_read(u->multi, &left);
        if (!m)
            break;
        if (m->msg != CURLMSG_DONE)
            continue;
        struct belt_xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            finish(u, x, m->data.result);
    }
}

/* The options that stay the same for every transfer of this object and its easy handle. */
static int setup_easy_once(struct belt_upstream *u, struct belt_xfer *x)
{
    CURL *e = x->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, u) != CURLE_OK;
    /* curl's receive buffer is per handle (16 KiB by default): answers and SSE events are
     * small, and thousands of concurrent streams each hold one (measured: -12 KiB RSS per
     * stream with 4 KiB, no change in throughput) */
    bad |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L) != CURLE_OK;
    if (u->no_proxy_env) { /* else curl reads the proxy variables on every transfer */
        bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_NOPROXY, "") != CURLE_OK;
    }
    return bad ? -1 : 0;
}

/* A zeroed transfer with an easy handle: a recycled one (handle and buffer kept) or a new one.
 * NULL when out of memory. */
static struct belt_xfer *xfer_get(struct belt_upstream *u)
{
    struct belt_xfer *x = u->free_xfers;
    if (x) {
        u->free_xfers = x->next_reap;
        u->n_free--;
        CURL *easy = x->easy;
        struct belt_buf resp = x->resp;
        memset(x, 0, sizeof(*x));
        x->easy = easy;
        x->resp = resp;
        belt_buf_reset(&x->resp);
        x->u = u;
        return x;
    }
    x = belt_calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->u = u;
    belt_buf_init(&x->resp, 0);
    x->easy = curl_easy_init();
    if (!x->easy || setup_easy_once(u, x) != 0) {
        if (x->easy)
            curl_easy_cleanup(x->easy);
        belt_free(x);
        return NULL;
    }
    return x;
}

/* The options of this transfer. */
static int setup_easy(struct belt_xfer *x, const struct belt_xfer_params *p)
{
    CURL *e = x->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, p->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)p->headers) != CURLE_OK;
    if (x->body) {
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body) != CURLE_OK;
        bad |=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len) != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    }
    /* every option that differs between transfers is set every time (handles are reused
     * without curl_easy_reset) */
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)BELT_MAX(p->timeout_ms, 0)) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                            (long)BELT_MAX(p->connect_timeout_ms, 0)) != CURLE_OK;
    long secs = p->idle_timeout_ms > 0 ? (long)((p->idle_timeout_ms + 999) / 1000) : 0;
    bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, secs ? 1L : 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs) != CURLE_OK;
    return bad ? -1 : 0;
}

belt_status belt__xfer_start(struct belt_upstream *u, const struct belt_xfer_params *p,
                             struct belt_xfer **out, struct belt_error *err)
{
    struct belt_xfer *x = xfer_get(u);
    if (!x) {
        belt_free(p->body);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    }
    x->body = p->body;
    x->on_data = p->on_data;
    x->on_done = p->on_done;
    x->ud = p->ud;
    x->stream = p->stream;
    x->resp.max = p->max_response ? p->max_response : (size_t)32 << 20;
    if (setup_easy(x, p) != 0) {
        xfer_free(x);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot set up the upstream transfer");
    }
    x->start_us = belt_now_us();
    CURLMcode mc = curl_multi_add_handle(u->multi, x->easy);
    if (mc != CURLM_OK) {
        xfer_free(x);
        return belt__error_set(err, BELT_ERR_INTERNAL, (int)mc, "curl_multi_add_handle: %s",
                               curl_multi_strerror(mc));
    }
    x->attached = 1;
    u->n_active++;
    x->next = u->active;
    if (u->active)
        u->active->prev = x;
    u->active = x;
    if (out)
        *out = x;
    if (!u->in_curl) {
        /* Kick curl now instead of on its 0 ms timer one loop turn later: the request goes
         * out at once. Finished transfers are collected from the reap event, so no callback
         * runs inside belt__xfer_start. */
        int running = 0;
        u->in_curl++;
        curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        u->in_curl--;
        event_active(u->reap_ev, 0, 0);
    }
    return BELT_OK;
}

void belt__xfer_cancel(struct belt_xfer *x)
{
    if (!x || x->cancelled)
        return;
    struct belt_upstream *u = x->u;
    x->cancelled = 1;
    if (u->in_curl) { /* inside curl: detach now, free at a safe point */
        x->next_reap = u->reap;
        u->reap = x;
        event_active(u->reap_ev, 0, 0);
        return;
    }
    xfer_free(x);
}

/* ---- the client --------------------------------------------------------------------------- */

struct belt_upstream_params belt__upstream_default_params(void)
{
    struct belt_upstream_params p;
    p.max_connects = 1024;
    p.max_host_connections = 0;
    return p;
}

belt_status belt__upstream_new(struct event_base *base, const struct belt_upstream_params *p,
                               struct belt_upstream **out, struct belt_error *err)
{
    struct belt_upstream_params d = belt__upstream_default_params();
    if (!p)
        p = &d;
    struct belt_upstream *u = belt_calloc(1, sizeof(*u));
    if (!u)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    u->base = base;
    static const char *const proxy_vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                             "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    u->no_proxy_env = 1;
    for (size_t i = 0; i < BELT_ARRAY_LEN(proxy_vars); i++) {
        const char *v = getenv(proxy_vars[i]);
        if (v && *v)
            u->no_proxy_env = 0;
    }
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    u->reap_ev = event_new(base, -1, 0, on_reap, u);
    if (!u->multi || !u->timer || !u->reap_ev) {
        belt__upstream_free(u);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot create the upstream client");
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, p->max_connects);
    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, p->max_host_connections);
    *out = u;
    return BELT_OK;
}

void belt__upstream_free(struct belt_upstream *u)
{
    if (!u)
        return;
    while (u->active) {
        struct belt_xfer *x = u->active;
        x->cancelled = 1;
        xfer_free(x);
    }
    if (u->reap_ev)
        on_reap(-2, 0, u); /* free only: no callbacks while tearing down */
    while (u->free_xfers) {
        struct belt_xfer *x = u->free_xfers;
        u->free_xfers = x->next_reap;
        curl_easy_cleanup(x->easy);
        belt_buf_deinit(&x->resp);
        belt_free(x);
    }
    if (u->multi)
        curl_multi_cleanup(u->multi); /* closes the pooled connections: close_cb drops them */
    for (size_t i = 0; i < u->n_socks; i++)
        if (u->socks[i])
            sock_drop(u->socks[i]);
    belt_free(u->socks);
    if (u->timer)
        event_free(u->timer);
    if (u->reap_ev)
        event_free(u->reap_ev);
    belt_free(u);
}

size_t belt__upstream_n_active(const struct belt_upstream *u)
{
    return u->n_active;
}
