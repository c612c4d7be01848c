/*
 * bench_evhttp_hop.c — the floor of belt's HTTP stack: a reverse proxy built on libevent alone
 * (evhttp server, evhttp client over a keep-alive pool of upstream connections, one event loop
 * per thread with SO_REUSEPORT) that does nothing but forward POST bodies and answers. No JSON,
 * no libcurl, no traces, no guards. Run it as a `custom` target of the peer benchmark next to
 * belt (bench/README.md, Gateway) to see what the mandated evhttp layer costs by itself.
 *
 * usage: bench_evhttp_hop PORT UPSTREAM_HOST UPSTREAM_PORT [THREADS]
 *        (bench/gateway/evhttp-hop.sh PORT [THREADS] takes the upstream from $FAKE_URL)
 * Loopback only; runs until killed. Not part of belt.
 */
#include "belt_config.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define POOL        128 /* upstream connections per loop (evhttp sends one request at a time) */
#define MAX_THREADS 16

struct hop_loop {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_connection *pool[POOL];
    unsigned next;        /* round robin over the pool */
    const char *upstream; /* Host header */
};

static void on_upstream(struct evhttp_request *ur, void *arg)
{
    struct evhttp_request *cr = arg;
    if (!ur || evhttp_request_get_response_code(ur) == 0) {
        evhttp_send_error(cr, 502, "upstream failed");
        return;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(ur), "Content-Type");
    evhttp_add_header(evhttp_request_get_output_headers(cr), "Content-Type",
                      ct ? ct : "application/json");
    evhttp_send_reply(cr, evhttp_request_get_response_code(ur), "OK",
                      evhttp_request_get_input_buffer(ur));
}

static void on_request(struct evhttp_request *cr, void *arg)
{
    struct hop_loop *l = arg;
    struct evhttp_connection *c = l->pool[l->next++ % POOL];
    struct evhttp_request *ur = evhttp_request_new(on_upstream, cr);
    if (!ur) {
        evhttp_send_error(cr, 503, "out of memory");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(ur);
    evhttp_add_header(h, "Host", l->upstream);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add_buffer(evhttp_request_get_output_buffer(ur), evhttp_request_get_input_buffer(cr));
    if (evhttp_make_request(c, ur, EVHTTP_REQ_POST, evhttp_request_get_uri(cr)) != 0)
        evhttp_send_error(cr, 502, "cannot send upstream");
}

static void *loop_main(void *arg)
{
    event_base_dispatch(((struct hop_loop *)arg)->base);
    return NULL;
}

static int listen_socket(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0 ||
        evutil_make_socket_nonblocking(fd) != 0)
        return -1;
    return fd;
}

static long arg_long(const char *s, long lo, long hi, const char *what)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_evhttp_hop: %s: expected %ld..%ld, got '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: bench_evhttp_hop PORT UPSTREAM_HOST UPSTREAM_PORT [THREADS]\n");
        return 2;
    }
    int port = (int)arg_long(argv[1], 1, 65535, "PORT");
    int up_port = (int)arg_long(argv[3], 1, 65535, "UPSTREAM_PORT");
    int threads = argc > 4 ? (int)arg_long(argv[4], 1, MAX_THREADS, "THREADS") : 2;
    static struct hop_loop loops[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        struct hop_loop *l = &loops[i];
        l->upstream = argv[2];
        l->base = event_base_new();
        l->http = l->base ? evhttp_new(l->base) : NULL;
        int fd = listen_socket(port);
        if (!l->http || fd < 0 || evhttp_accept_socket(l->http, fd) != 0) {
            perror("bench_evhttp_hop: listen");
            return 1;
        }
        evhttp_set_allowed_methods(l->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
        evhttp_set_gencb(l->http, on_request, l);
        for (int k = 0; k < POOL; k++) {
            l->pool[k] = evhttp_connection_base_new(l->base, NULL, argv[2], (uint16_t)up_port);
            if (!l->pool[k])
                return 1;
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, loop_main, &loops[i]);
    printf("bench_evhttp_hop: listening on port %d (%d threads)\n", port, threads);
    fflush(stdout);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    return 0;
}
