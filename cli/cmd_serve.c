/*
 * cmd_serve.c — `belt serve`: the OpenAI-compatible gateway (docs/cli/serve.md). Builds the
 * engine from the configuration, binds, prints the address, serves until SIGINT/SIGTERM, then
 * stops gracefully (stop accepting, finish requests in flight, flush traces).
 */
#include "belt_config.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "commands.h"

/* The running server, for the signal handler (belt_server_stop is async-signal-safe). */
static struct belt_server *volatile g_server;

static void on_signal(int sig)
{
    (void)sig;
    struct belt_server *s = g_server;
    if (s)
        belt_server_stop(s);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Many concurrent streams need many descriptors: raise the soft limit to the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct serve_opts {
    const char *listen;
    long threads;
    int no_trace;
    int no_cache;
};

static int parse(const struct cli_command *cmd, int argc, char **argv, struct serve_opts *o)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"no-trace", no_argument, NULL, 'T'},
                                         {"no-cache", no_argument, NULL, 'C'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "l:t:", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'l':
            o->listen = optarg;
            break;
        case 't':
            if (cli_parse_long(cmd, "--threads", optarg, &o->threads) != 0)
                return -1;
            if (o->threads < 1 || o->threads > 256) {
                cli_usage_error(cmd, "--threads must be between 1 and 256");
                return -1;
            }
            break;
        case 'T':
            o->no_trace = 1;
            break;
        case 'C':
            o->no_cache = 1;
            break;
        default:
            cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

static int run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct serve_opts o = {0};
    if (parse(cmd, argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    raise_fd_limit();
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    /* Fixed malloc thresholds (glibc's defaults, 128 KiB), set before anything is allocated.
     * Left alone, glibc raises both each time a large mmapped block is freed (start-up frees a
     * few), up to 32 MiB; each arena then keeps up to twice that free at its top, and a long run
     * under load crept from 19 to 23 MB resident (bench/README.md, Gateway). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif
    struct belt_error err = {0};
    struct belt_config *cfg = NULL;
    struct belt_engine *e = NULL;
    struct belt_server *srv = NULL;
    belt_status st = cli_load_config(ctx, &cfg, &err);
    if (st == BELT_OK) {
        struct belt_engine_params ep = belt_engine_default_params();
        ep.config = cfg;
        ep.trace = o.no_trace ? 0 : -1;
        ep.cache = o.no_cache ? 0 : -1;
        st = belt_engine_new(&ep, &e, &err);
    }
    if (st == BELT_OK) {
        struct belt_server_params sp = belt_server_default_params();
        sp.listen = o.listen;
        sp.threads = (int)o.threads;
        st = belt_server_new(e, &sp, &srv, &err);
    }
#ifdef M_ARENA_MAX
    /* One malloc arena per thread that allocates on the request path: the loops (loop 0 is
     * this thread, on glibc's main arena) and the store writer. Two loops sharing an arena
     * contend for its lock whenever an allocation misses the thread cache — about five futex
     * calls per request at 64 connections and ~7% more CPU per request (bench/README.md,
     * Gateway). Capped there rather than at glibc's eight per core, so that other threads share
     * and the resident size stays low. Before belt_server_run, which starts the loop threads. */
    if (st == BELT_OK)
        mallopt(M_ARENA_MAX, belt_server_n_threads(srv) + 1);
#endif
    if (st == BELT_OK) {
        printf("belt serve: listening on port %d (%d threads, %zu models, config %s)\n",
               belt_server_port(srv), belt_server_n_threads(srv), belt_config_n_models(cfg),
               belt_config_file(cfg));
        fflush(stdout);
        g_server = srv;
        install_signals();
        st = belt_server_run(srv, &err);
        g_server = NULL;
        fprintf(stderr, "belt serve: stopping\n");
    }
    belt_server_free(srv);
    if (e && belt_engine_flush(e, 30000, NULL) != BELT_OK)
        fprintf(stderr, "belt serve: some traces could not be written in time\n");
    belt_engine_free(e);
    belt_config_free(cfg);
    if (st != BELT_OK)
        return cli_fail(&err, st);
    return CLI_EXIT_OK;
}

const struct cli_command cli_serve_cmd = {
    "serve", run, "run the OpenAI-compatible gateway",
    "usage: belt [-c FILE] serve [--listen HOST:PORT] [--threads N] [--no-trace] [--no-cache]\n"
    "\n"
    "Serve the configured models over the OpenAI API: POST /v1/chat/completions (JSON and\n"
    "streaming), POST /v1/embeddings, GET /v1/models, GET /healthz, GET /metrics.\n"
    "Every call gets fallbacks, retries, cost accounting, the response cache and a trace.\n"
    "\n"
    "Options:\n"
    "  -l, --listen HOST:PORT  address to listen on (default: server.listen, 127.0.0.1:8080;\n"
    "                          port 0 picks a free port, printed at start)\n"
    "  -t, --threads N         event loops (default: server.threads, 0 = one per CPU)\n"
    "      --no-trace          do not write traces\n"
    "      --no-cache          do not use the response cache\n"
    "\n"
    "SIGINT or SIGTERM stops gracefully: stop accepting, let requests in flight finish\n"
    "(server.shutdown_timeout), write the remaining traces, exit 0.\n"
    "See docs/cli/serve.md and docs/gateway.md."};
