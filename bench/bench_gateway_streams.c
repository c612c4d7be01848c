/*
 * bench_gateway_streams.c — many concurrent streaming chat requests against `belt serve`
 * (bench/gateway/streams.sh starts the fake upstream and belt): opens N connections at once,
 * sends one streamed request on each, reads each SSE stream to `data: [DONE]`, and reports how
 * many completed, how many failed (and how), completion times, the peak number of streams in
 * flight, and the gateway's peak RSS (sampled from /proc every 100 ms).
 *
 * usage: bench_gateway_streams --port P [--n 5000] [--model NAME] [--pid BELT_PID]
 *                              [--timeout-s 60] [--ramp-ms 0]
 * Loopback only. Exit status 0 when every stream completed.
 */
#include "belt_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

struct stream {
    struct bench *b;         /* owner */
    struct bufferevent *bev; /* connection */
    double start_s;          /* when it was opened */
    int done;                /* saw [DONE] */
    int status;              /* HTTP status of the response, 0 until known */
    size_t scanned;          /* input bytes already searched for [DONE] */
};

struct bench {
    struct event_base *base;
    struct sockaddr_in addr;
    const char *model;
    int n, opened, ok, failed, in_flight, peak_in_flight, ramp_ms;
    int fail_connect, fail_status, fail_cut;
    long pid;        /* gateway to sample, 0: none */
    long rss_kb_max; /* peak VmRSS of pid */
    double *lat;     /* completion times of the ok streams */
    double t0;
    struct event *sampler, *opener;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static void finish(struct stream *s, int ok)
{
    struct bench *b = s->b;
    if (ok) {
        b->lat[b->ok++] = now_s() - s->start_s;
    } else {
        b->failed++;
    }
    b->in_flight--;
    bufferevent_free(s->bev);
    free(s);
    if (b->ok + b->failed == b->n)
        event_base_loopexit(b->base, NULL);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct stream *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    if (!s->status && len >= 12) {
        char head[13];
        evbuffer_copyout(in, head, 12);
        head[12] = '\0';
        s->status = (int)strtol(head + 9, NULL, 10);
    }
    /* search only the new bytes (plus an overlap for a marker split across reads) */
    size_t from = s->scanned > 16 ? s->scanned - 16 : 0;
    struct evbuffer_ptr start;
    evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
    struct evbuffer_ptr hit = evbuffer_search(in, "data: [DONE]", 12, &start);
    s->scanned = len;
    if (hit.pos >= 0) {
        finish(s, 1);
        return;
    }
    if (len > 65536) { /* keep memory flat: drop what was searched */
        evbuffer_drain(in, len - 32);
        s->scanned = 32;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct stream *s = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    struct bench *b = s->b;
    if (!s->status)
        b->fail_connect++;
    else if (s->status != 200)
        b->fail_status++;
    else
        b->fail_cut++;
    finish(s, 0);
}

static void open_one(struct bench *b)
{
    struct stream *s = calloc(1, sizeof(*s));
    s->b = b;
    s->start_s = now_s();
    s->bev = bufferevent_socket_new(b->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    char body[512];
    int blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                        "\"content\":\"stream %d\"}]}",
                        b->model, b->opened);
    evbuffer_add_printf(bufferevent_get_output(s->bev),
                        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n%s",
                        blen, body);
    b->opened++;
    b->in_flight++;
    if (b->in_flight > b->peak_in_flight)
        b->peak_in_flight = b->in_flight;
    if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&b->addr, sizeof(b->addr)) != 0) {
        b->fail_connect++;
        finish(s, 0);
    }
}

static void on_open_tick(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    (void)fd;
    (void)what;
    /* open a slice of the streams per 10 ms tick, so that all are open after ramp_ms */
    int per_tick = b->ramp_ms > 0 ? (b->n * 10 + b->ramp_ms - 1) / b->ramp_ms : b->n;
    for (int i = 0; i < per_tick && b->opened < b->n; i++)
        open_one(b);
    if (b->opened < b->n) {
        struct timeval tv = {0, 10000};
        evtimer_add(b->opener, &tv);
    }
}

static void on_sample(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    (void)fd;
    (void)what;
    long kb = b->pid ? rss_kb(b->pid) : 0;
    if (kb > b->rss_kb_max)
        b->rss_kb_max = kb;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof(b));
    b.n = 5000;
    b.model = "stream";
    int port = 0, timeout_s = 60;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--n"))
            b.n = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--model"))
            b.model = argv[i + 1];
        else if (!strcmp(argv[i], "--pid"))
            b.pid = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--timeout-s"))
            timeout_s = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--ramp-ms"))
            b.ramp_ms = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (!port || b.n <= 0) {
        fprintf(stderr,
                "usage: %s --port P [--n N] [--model M] [--pid PID] [--timeout-s S] "
                "[--ramp-ms MS]\n",
                argv[0]);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    b.lat = calloc((size_t)b.n, sizeof(double));
    b.base = event_base_new();
    b.addr.sin_family = AF_INET;
    b.addr.sin_port = htons((uint16_t)port);
    b.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b.sampler = event_new(b.base, -1, EV_PERSIST, on_sample, &b);
    struct timeval every = {0, 100000};
    event_add(b.sampler, &every);
    b.opener = evtimer_new(b.base, on_open_tick, &b);
    struct timeval zero = {0, 0};
    evtimer_add(b.opener, &zero);
    struct timeval limit = {timeout_s, 0};
    event_base_loopexit(b.base, &limit);
    b.t0 = now_s();
    event_base_dispatch(b.base);
    double wall = now_s() - b.t0;
    on_sample(-1, 0, &b);
    qsort(b.lat, (size_t)b.ok, sizeof(double), cmp_double);
    double p50 = b.ok ? b.lat[b.ok / 2] : 0, p99 = b.ok ? b.lat[(int)(b.ok * 0.99)] : 0,
           mx = b.ok ? b.lat[b.ok - 1] : 0;
    int unfinished = b.n - b.ok - b.failed;
    printf("streams %d  completed %d  failed %d (connect %d, status %d, cut %d)  unfinished %d\n",
           b.n, b.ok, b.failed, b.fail_connect, b.fail_status, b.fail_cut, unfinished);
    printf("wall %.2f s  completion p50 %.3f s  p99 %.3f s  max %.3f s  peak in flight %d\n", wall,
           p50, p99, mx, b.peak_in_flight);
    if (b.pid)
        printf("gateway peak RSS %.1f MB\n", (double)b.rss_kb_max / 1024.0);
    event_free(b.sampler);
    event_free(b.opener);
    event_base_free(b.base);
    free(b.lat);
    return b.ok == b.n ? 0 : 1;
}
