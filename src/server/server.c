/*
 * server.c — the gateway's lifecycle (see server.h): listening sockets, one event loop per
 * thread, evhttp limits, graceful stop (stop accepting, finish requests in flight within
 * server.shutdown_timeout, then cancel the rest) and teardown.
 */
#include "belt_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

/* ---- listening sockets -------------------------------------------------------------------- */

/* Split "HOST:PORT" / "[V6]:PORT" into host and port strings. */
static int split_listen(const char *listen, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return -1;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hcap || strlen(colon + 1) >= pcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

/* A non-blocking listening socket on addr; SO_REUSEPORT when reuseport. -1 on error (errno). */
static int listen_socket(const struct addrinfo *ai, int reuseport, int backlog)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* accepted sockets inherit it on Linux: SSE chunks go out at once, not after Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        goto fail;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* One listening fd per loop: fds[0] is bound first (it fixes the port when 0 was asked). */
static belt_status open_listeners(struct belt_server *s, const char *listen, int *fds,
                                  struct belt_error *err)
{
    char host[256], port[16];
    if (split_listen(listen, host, sizeof(host), port, sizeof(port)) != 0)
        return belt__error_set(err, BELT_ERR_INVALID, 0, "listen address '%s' is not HOST:PORT",
                               listen);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai != 0)
        return belt__error_set(err, BELT_ERR_INVALID, gai, "listen address '%s': %s", listen,
                               gai_strerror(gai));
    int reuse = s->cfg->reuseport && s->n_loops > 1;
    belt_status st = BELT_OK;
    for (int i = 0; i < s->n_loops && st == BELT_OK; i++) {
        if (i > 0 && !reuse) {
            fds[i] = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
        } else {
            if (i > 0) { /* the others bind the port the first one got */
                int p = bound_port(fds[0]);
                if (ai->ai_family == AF_INET6)
                    ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)p);
                else
                    ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)p);
            }
            fds[i] = listen_socket(ai, reuse, 4096);
        }
        if (fds[i] < 0)
            st = belt__error_set(err, BELT_ERR_IO, errno, "cannot listen on %s: %s", listen,
                                 strerror(errno));
    }
    freeaddrinfo(ai);
    if (st == BELT_OK)
        s->port = bound_port(fds[0]);
    return st;
}

/* ---- loops -------------------------------------------------------------------------------- */

void belt__srv_maybe_exit(struct srv_loop *sl)
{
    if (sl->draining && sl->n_reqs == 0 && sl->n_flushing == 0)
        event_base_loopexit(sl->base, NULL);
}

void belt__srv_req_done(struct srv_req *r)
{
    struct srv_loop *sl = r->sl;
    if (r->prev)
        r->prev->next = r->next;
    else if (sl->reqs == r)
        sl->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    sl->n_reqs--;
    atomic_fetch_sub_explicit(&sl->loop->shard->inflight, 1, memory_order_relaxed);
    belt__srv_maybe_exit(sl);
}

static void on_hard_stop(evutil_socket_t fd, short what, void *arg)
{
    struct srv_loop *sl = arg;
    (void)fd;
    (void)what;
    event_base_loopexit(sl->base, NULL);
}

/* The grace period is over: cancel what still runs (clients get a 503), give the replies one
 * more second to be written, then exit regardless. */
static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    struct srv_loop *sl = arg;
    (void)fd;
    (void)what;
    if (sl->grace_over) {
        on_hard_stop(fd, what, arg);
        return;
    }
    sl->grace_over = 1;
    if (sl->n_reqs)
        BELT_LOG_W("shutdown: %zu request(s) still running after the grace period; cancelling",
                   sl->n_reqs);
    belt__srv_cancel_all(sl);
    struct timeval one = {1, 0};
    evtimer_add(sl->grace_ev, &one);
    belt__srv_maybe_exit(sl);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct srv_loop *sl = arg;
    char buf[16];
    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    if (sl->draining)
        return;
    sl->draining = 1;
    if (sl->bound) {
        evhttp_del_accept_socket(sl->http, sl->bound); /* closes the listening fd */
        sl->bound = NULL;
    }
    int64_t ms = sl->s->cfg->shutdown_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(sl->grace_ev, &tv);
    belt__srv_maybe_exit(sl);
}

/* A non-blocking, close-on-exec pipe. */
static int make_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

static belt_status loop_init(struct belt_server *s, struct srv_loop *sl, int fd,
                             struct belt_error *err)
{
    const struct belt_cfg_server *c = s->cfg;
    sl->s = s;
    sl->stop_pipe[0] = sl->stop_pipe[1] = -1;
    sl->mb.fd = -1;
    /* the changelist coalesces the many interest changes of one loop turn (evhttp toggling
     * read/write, curl moving a socket from out to in to idle) into one epoll_ctl per fd */
    struct event_config *ec = event_config_new();
    if (ec)
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    sl->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    sl->http = sl->base ? evhttp_new(sl->base) : NULL;
    if (!sl->http || make_pipe(sl->stop_pipe) != 0) {
        close(fd);
        return belt__error_set(err, BELT_ERR_NOMEM, errno, "cannot create an event loop");
    }
    sl->stop_ev = event_new(sl->base, sl->stop_pipe[0], EV_READ | EV_PERSIST, on_stop, sl);
    sl->grace_ev = evtimer_new(sl->base, on_grace_over, sl);
    if (!sl->stop_ev || !sl->grace_ev || event_add(sl->stop_ev, NULL) != 0) {
        close(fd);
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "cannot create an event loop");
    }
    /* bodies between max_body and 2 * max_body are read and refused by us with a JSON 413;
     * larger ones are refused by evhttp before being read */
    evhttp_set_max_body_size(sl->http, (ev_ssize_t)(c->max_body * 2));
    /* read and discard an oversized body before closing, so the client can read the 413 */
    evhttp_set_flags(sl->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_max_headers_size(sl->http, (ev_ssize_t)c->max_headers);
    struct timeval tv = {(time_t)(c->idle_timeout_ms / 1000),
                         (suseconds_t)((c->idle_timeout_ms % 1000) * 1000)};
    evhttp_set_timeout_tv(sl->http, &tv);
    evhttp_set_allowed_methods(sl->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(sl->http, "application/json");
    evhttp_set_gencb(sl->http, belt__srv_dispatch, sl);
    sl->bound = evhttp_accept_socket_with_handle(sl->http, fd);
    if (!sl->bound) {
        close(fd);
        return belt__error_set(err, BELT_ERR_IO, errno, "cannot accept on the listening socket");
    }
    belt_status st = belt__srv_mailbox_init(sl, err);
    if (st == BELT_OK)
        st = belt__srv_flush_init(sl, err);
    if (st != BELT_OK)
        return st;
    size_t n_routes = belt_engine_config(s->e)->routes.n;
    sl->routes = n_routes ? belt_calloc(n_routes, sizeof(*sl->routes)) : NULL;
    if (n_routes && !sl->routes)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    return belt_loop_new(s->e, sl->base, &sl->loop, err);
}

static void loop_deinit(struct srv_loop *sl)
{
    sl->torn_down = 1;
    belt_loop_free(sl->loop);     /* cancels calls still running: their answers free requests */
    belt__srv_mailbox_deinit(sl); /* store tasks that came back: their requests are freed */
    if (sl->http)
        evhttp_free(sl->http);
    belt__srv_flush_deinit(sl); /* after evhttp: its connections go with our references */
    if (sl->stop_ev)
        event_free(sl->stop_ev);
    if (sl->grace_ev)
        event_free(sl->grace_ev);
    for (int i = 0; i < 2; i++)
        if (sl->stop_pipe[i] >= 0)
            close(sl->stop_pipe[i]);
    if (sl->base)
        event_base_free(sl->base);
    belt_free(sl->routes);
}

/* ---- public API --------------------------------------------------------------------------- */

struct belt_server_params belt_server_default_params(void)
{
    struct belt_server_params p;
    memset(&p, 0, sizeof(p));
    return p;
}

belt_status belt_server_new(struct belt_engine *e, const struct belt_server_params *p,
                            struct belt_server **out, struct belt_error *err)
{
    *out = NULL;
    struct belt_server_params d = belt_server_default_params();
    if (!p)
        p = &d;
    struct belt_server *s = belt_calloc(1, sizeof(*s));
    if (!s)
        return belt__error_set(err, BELT_ERR_NOMEM, 0, "out of memory");
    s->e = e;
    s->cfg = &e->cfg->server;
    snprintf(s->server_header, sizeof(s->server_header), "belt/%s", belt_version());
    s->no_watch = getenv("BELT_NO_WATCH") != NULL; /* read once: getenv scans the environment */
    int n = p->threads > 0 ? p->threads : (int)s->cfg->threads;
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)BELT_MIN(cpus, 64L) : 1;
    }
    s->n_loops = n;
    s->loops = belt_calloc((size_t)n, sizeof(*s->loops));
    int *fds = belt_calloc((size_t)n, sizeof(int));
    belt_status st = s->loops && fds ? BELT_OK : belt__error_set(err, BELT_ERR_NOMEM, 0, "oom");
    if (st == BELT_OK)
        st = belt__srv_gov_init(s, &s->gov, err);
    if (st == BELT_OK) {
        for (int i = 0; i < n; i++)
            fds[i] = -1;
        st = open_listeners(s, p->listen ? p->listen : s->cfg->listen, fds, err);
    }
    for (int i = 0; i < n && s->loops; i++) {
        s->loops[i].index = i;
        s->loops[i].mb.fd = -1;
        s->loops[i].stop_pipe[0] = s->loops[i].stop_pipe[1] = -1;
        if (st == BELT_OK)
            st = loop_init(s, &s->loops[i], fds[i], err);
        else if (fds && fds[i] >= 0)
            close(fds[i]);
    }
    belt_free(fds);
    if (st == BELT_OK)
        st = belt__srv_gov_start(s, err);
    if (st != BELT_OK) {
        belt_server_free(s);
        return st;
    }
    *out = s;
    return BELT_OK;
}

int belt_server_port(const struct belt_server *s)
{
    return s->port;
}

int belt_server_n_threads(const struct belt_server *s)
{
    return s->n_loops;
}

static void *loop_thread(void *arg)
{
    struct srv_loop *sl = arg;
    char name[16];
    snprintf(name, sizeof(name), "belt-loop-%d", sl->index);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    event_base_dispatch(sl->base);
    return NULL;
}

belt_status belt_server_run(struct belt_server *s, struct belt_error *err)
{
    belt_status st = BELT_OK;
    s->running = 1;
    for (int i = 1; i < s->n_loops; i++) {
        if (pthread_create(&s->loops[i].thread, NULL, loop_thread, &s->loops[i]) != 0) {
            belt_server_stop(s);
            st = belt__error_set(err, BELT_ERR_INTERNAL, errno, "cannot start loop thread %d", i);
            break;
        }
        s->loops[i].thread_started = 1;
    }
    if (s->stopping) /* a stop that came before the loops ran */
        belt_server_stop(s);
    event_base_dispatch(s->loops[0].base);
    for (int i = 1; i < s->n_loops; i++) {
        if (s->loops[i].thread_started)
            pthread_join(s->loops[i].thread, NULL);
        s->loops[i].thread_started = 0;
    }
    s->running = 0;
    return st;
}

void belt_server_stop(struct belt_server *s)
{
    s->stopping = 1;
    for (int i = 0; s->loops && i < s->n_loops; i++) {
        if (s->loops[i].stop_pipe[1] >= 0) {
            ssize_t w = write(s->loops[i].stop_pipe[1], "x", 1);
            (void)w; /* a full pipe already holds a stop request */
        }
    }
}

void belt_server_free(struct belt_server *s)
{
    if (!s)
        return;
    if (belt__srv_gov_quiesce(&s->gov, 30000))
        BELT_LOG_E("shutdown: store tasks still pending after 30 s; their requests are leaked");
    for (int i = 0; s->loops && i < s->n_loops; i++)
        loop_deinit(&s->loops[i]);
    belt__srv_gov_free(&s->gov); /* after the loops: their last answers queue audit events */
    belt_free(s->loops);
    belt_free(s);
}
