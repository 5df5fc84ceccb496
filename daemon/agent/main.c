/*
 * main.c: wapd-agent, the host daemon of the wapd-agent protocol: its options, its backend, its
 * start and its orderly stop.
 *
 * Start, in this order: options; the state dir (created 0700 when missing); the token (agent.token
 * is written before agent.json, so a reader that sees the port can read the token); the backend,
 * opened with agent_open (the sim driver keeps its VMs in the state dir, host id "agent"; both are
 * wrapped in the journal decorator, which answers a repeated Operation-Id from disk); the listening
 * socket (the port of a previous run's agent.json when --listen asks for port 0, so wapd finds a
 * restarted agent where it was); agent.json; then the server. Nothing is answered before agent.json
 * is durable.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by the main thread with sigwait
 * (no handler runs). On one the agent stops accepting, lets requests in flight finish for up to
 * STOP_GRACE_MS, and exits 0; a request still running then (a backend call that hangs) is abandoned
 * unanswered, which the protocol allows (an unanswered call is retried with its Operation-Id).
 */
#include "agentd.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/util.h"

#define STOP_GRACE_MS 8000
#define REBIND_MS 5000 /* how long a restarted agent retries its previous port */
#define THREADS 16     /* backend calls block (latency, hypervisor): one pool thread each */

typedef struct {
    const char *listen, *state_dir, *token, *token_file, *backend, *sim_uri, *libvirt_uri, *name;
} options_t;

/* The options, written once: getopt's table and the help text follow from it. */
static const struct {
    const char *name;
    size_t offset;
    const char *arg, *help;
} option_table[] = {
    {"listen", offsetof(options_t, listen), "HOST:PORT", "where to listen (port 0: any, kept)"},
    {"state-dir", offsetof(options_t, state_dir), "DIR", "the agent's state (VMs, journal, token)"},
    {"token", offsetof(options_t, token), "TOKEN", "the bearer token wapd presents"},
    {"token-file", offsetof(options_t, token_file), "FILE",
     "read the token from FILE's first line"},
    {"backend", offsetof(options_t, backend), "sim|libvirt", "the hypervisor (default sim)"},
    {"sim-uri", offsetof(options_t, sim_uri), "URI", "sim backend options (default sim://)"},
    {"libvirt-uri", offsetof(options_t, libvirt_uri), "URI", "libvirt connection uri"},
    {"name", offsetof(options_t, name), "NAME", "the name GET /v1/host shows (default hostname)"},
};

#define NOPTIONS (sizeof(option_table) / sizeof(option_table[0]))

static void
usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: wapd-agent --listen HOST:PORT --state-dir DIR [options]\n");
    for (i = 0; i < NOPTIONS; i++)
        fprintf(out, "  --%-12s %-12s %s\n", option_table[i].name, option_table[i].arg,
                option_table[i].help);
    fprintf(out, "  --%-12s %-12s %s\n  --%-12s %-12s %s\n", "help", "", "this text", "version", "",
            "the version");
}

/* 0 with *o filled, 1 when the program should exit 0 (help, version), -1 on a usage error. */
static int
parse_options(int argc, char **argv, options_t *o)
{
    struct option longopts[NOPTIONS + 3];
    size_t i;
    int c;

    memset(longopts, 0, sizeof(longopts));
    for (i = 0; i < NOPTIONS; i++)
        longopts[i] = (struct option){option_table[i].name, required_argument, NULL, (int) i};
    longopts[NOPTIONS] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[NOPTIONS + 1] = (struct option){"version", no_argument, NULL, 'V'};
    memset(o, 0, sizeof(*o));
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'h' || c == 'V') {
            if (c == 'h')
                usage(stdout);
            else
                printf("wapd-agent %s\n", WAPD_VERSION);
            return 1;
        }
        if (c < 0 || (size_t) c >= NOPTIONS)
            return -1;
        *(const char **) ((char *) o + option_table[c].offset) = optarg;
    }
    if (optind < argc || o->listen == NULL || o->state_dir == NULL) {
        fprintf(stderr, "wapd-agent: --listen and --state-dir are required\n");
        return -1;
    }
    if (o->token && o->token_file) {
        fprintf(stderr, "wapd-agent: give --token or --token-file, not both\n");
        return -1;
    }
    if (o->backend == NULL)
        o->backend = "sim";
    if (strcmp(o->backend, "sim") != 0 && strcmp(o->backend, "libvirt") != 0) {
        fprintf(stderr, "wapd-agent: --backend must be sim or libvirt\n");
        return -1;
    }
    return 0;
}

/* Opens the backend into d->agent. 0, or -1 with a message on stderr. */
static int
open_backend(agentd_t *d, const options_t *o)
{
    const char *uri = strcmp(o->backend, "sim") == 0 ? o->sim_uri : o->libvirt_uri;
    agent_conf_t conf;
    agent_err_t err = {0};

    if (agent_builtin_register() != 0 || !agent_kind_known(o->backend)) {
        fprintf(stderr, "wapd-agent: the %s backend is not available in this build\n", o->backend);
        return -1;
    }
    if (uri == NULL)
        uri = agent_default_uri(o->backend);
    if (uri == NULL) {
        fprintf(stderr, "wapd-agent: the %s backend needs --%s-uri\n", o->backend, o->backend);
        return -1;
    }
    if (agent_check_uri(o->backend, uri, &err) != 0) {
        fprintf(stderr, "wapd-agent: %s\n", err.message);
        return -1;
    }
    memset(&conf, 0, sizeof(conf));
    conf.host_id = "agent";
    conf.uri = uri;
    conf.state_dir = o->state_dir;
    d->agent = agent_open(o->backend, &conf, &err);
    if (d->agent == NULL) {
        fprintf(stderr, "wapd-agent: the %s backend could not be opened: %s\n", o->backend,
                err.message);
        return -1;
    }
    snprintf(d->backend, sizeof(d->backend), "%s", o->backend);
    return 0;
}

static void
pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&t, NULL);
}

/* Binds --listen; a port 0 takes the port of a previous run when agent.json has one, retried for
 * REBIND_MS (its old connections may still hold it). The socket, or -1 with a message on stderr. */
static int
bind_port(const options_t *o, int *port)
{
    const char *colon = strrchr(o->listen, ':');
    int64_t given;
    int want, fd;
    int64_t deadline = util_now_ms() + REBIND_MS;

    if (colon == NULL || util_parse_int64(colon + 1, false, &given) != 0 || given > 65535) {
        fprintf(stderr, "wapd-agent: --listen '%s' is not HOST:PORT\n", o->listen);
        return -1;
    }
    want = (int) given;
    if (want == 0 && (want = agentd_port_load(o->state_dir)) < 0)
        return -1;
    for (;;) {
        fd = agentd_listen(o->listen, want, port);
        if (fd >= 0 || errno != EADDRINUSE || util_now_ms() >= deadline)
            break;
        pause_ms(100);
    }
    if (fd < 0)
        fprintf(stderr, "wapd-agent: cannot listen on %s (port %d): %s\n", o->listen, want,
                strerror(errno));
    return fd;
}

static void
log_event(const char *msg, const agentd_t *d, int port)
{
    fprintf(
        stderr,
        "{\"level\":\"info\",\"msg\":\"%s\",\"backend\":\"%s\",\"port\":%d,\"version\":\"%s\"}\n",
        msg, d->backend, port, WAPD_VERSION);
}

int
main(int argc, char **argv)
{
    static agentd_t d; /* static: the token stays off the stack */
    agentd_server_t *srv = NULL;
    options_t o;
    sigset_t set;
    int rc = 1, fd = -1, port = 0, sig = 0;

    switch (parse_options(argc, argv, &o)) {
    case 1:
        return 0;
    case -1:
        usage(stderr);
        return 2;
    }
    util_alloc_install();
    /* Every thread started from here on inherits this mask; the main thread takes the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mkdir(o.state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "wapd-agent: cannot create %s: %s\n", o.state_dir, strerror(errno));
        return 1;
    }
    if (o.name)
        snprintf(d.name, sizeof(d.name), "%s", o.name);
    else if (gethostname(d.name, sizeof(d.name) - 1) != 0)
        snprintf(d.name, sizeof(d.name), "wapd-agent");
    if (agentd_token_resolve(o.state_dir, o.token, o.token_file, d.token) != 0 ||
        open_backend(&d, &o) != 0 || (fd = bind_port(&o, &port)) < 0)
        goto cleanup;
    if (agentd_port_save(o.state_dir, port) != 0) {
        fprintf(stderr, "wapd-agent: cannot write %s/agent.json: %s\n", o.state_dir,
                strerror(errno));
        goto cleanup;
    }
    srv = agentd_server_start(&d, fd, THREADS);
    if (srv == NULL)
        goto cleanup;
    fd = -1; /* the server's now: it closes it */
    log_event("listening", &d, port);
    while (sigwait(&set, &sig) != 0)
        ;
    if (agentd_server_drain(srv, STOP_GRACE_MS) > 0) {
        /* A backend call hangs: leave it unanswered rather than wait past the stop deadline. */
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"stopped with calls in flight\"}\n");
        _exit(0);
    }
    log_event("stopped", &d, port);
    rc = 0;
cleanup:
    agentd_server_free(srv);
    if (fd >= 0)
        close(fd);
    if (d.agent)
        agent_close(d.agent);
    memset(d.token, 0, sizeof(d.token));
    return rc;
}
