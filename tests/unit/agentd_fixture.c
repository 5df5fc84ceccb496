/*
 * agentd_fixture.c: starts, restarts and stops a wapd-agent process for unit tests (see
 * agentd_fixture.h).
 *
 * Waiting is by polling with a deadline: every 10 ms, agent.json is read until it names a port (the
 * agent writes it atomically, after it bound the port) and that port is tried until it accepts a
 * connection; a child that exits meanwhile ends the wait at once.
 */
#include "agentd_fixture.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../lib/util.h"

#define START_DEADLINE_MS 30000 /* generous: the agent may run under ASan on a busy machine */

static const char *
agent_bin(void)
{
    const char *bin = getenv("WAPD_AGENT_BIN");

    return bin != NULL && bin[0] != '\0' ? bin : "build/wapd-agent";
}

static void
pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The child: its output goes to DIR/agent.log, and it dies when the test process does. */
static void
exec_agent(const agentd_t *a)
{
    char log[128];
    int fd;
    const char *argv[16];
    int n = 0;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(log, sizeof(log), "%s/agent.log", a->dir);
    if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    argv[n++] = agent_bin();
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--state-dir";
    argv[n++] = a->dir;
    argv[n++] = "--token";
    argv[n++] = a->token;
    argv[n++] = "--name";
    argv[n++] = "agent-under-test";
    if (a->sim_uri[0] != '\0') {
        argv[n++] = "--sim-uri";
        argv[n++] = a->sim_uri;
    }
    argv[n] = NULL;
    execv(argv[0], (char *const *) argv);
    fprintf(stderr, "agentd fixture: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* The port DIR/agent.json names, or 0 while it names none. */
static int
read_port(const agentd_t *a)
{
    char path[128];
    json_t *j;
    json_int_t port;

    snprintf(path, sizeof(path), "%s/agent.json", a->dir);
    if ((j = json_load_file(path, 0, NULL)) == NULL)
        return 0;
    port = json_integer_value(json_object_get(j, "port"));
    json_decref(j);
    return port > 0 && port < 65536 ? (int) port : 0;
}

/* True when something accepts connections on 127.0.0.1:port. */
static bool
port_open(int port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Forks the agent and waits until agent.json names its port and the port accepts (after a restart
 * the file is there before the new process listens). */
static int
spawn(agentd_t *a)
{
    int64_t deadline = util_mono_ns() + (int64_t) START_DEADLINE_MS * 1000000;
    int status;

    fflush(NULL);
    if ((a->pid = fork()) < 0) {
        a->pid = 0;
        fprintf(stderr, "agentd fixture: fork: %s\n", strerror(errno));
        return -1;
    }
    if (a->pid == 0)
        exec_agent(a);
    while (util_mono_ns() < deadline) {
        if ((a->port = read_port(a)) > 0 && port_open(a->port)) {
            snprintf(a->uri, sizeof(a->uri), "http://127.0.0.1:%d", a->port);
            return 0;
        }
        if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
            a->pid = 0;
            fprintf(stderr,
                    "agentd fixture: the agent exited before it wrote agent.json (see %s)\n",
                    a->dir);
            return -1;
        }
        pause_ms(10);
    }
    fprintf(stderr, "agentd fixture: no agent.json in %s after %d ms\n", a->dir, START_DEADLINE_MS);
    agentd_kill(a);
    return -1;
}

int
agentd_start(agentd_t *a, const char *sim_uri)
{
    unsigned char raw[16];

    assert(a != NULL);
    memset(a, 0, sizeof(*a));
    snprintf(a->dir, sizeof(a->dir), "/tmp/wapd-agentd-XXXXXX");
    if (mkdtemp(a->dir) == NULL) {
        a->dir[0] = '\0';
        return -1;
    }
    if (util_random_bytes(raw, sizeof(raw)) != 0)
        return -1;
    util_hex(raw, sizeof(raw), a->token);
    snprintf(a->sim_uri, sizeof(a->sim_uri), "%s", sim_uri ? sim_uri : "");
    return spawn(a);
}

void
agentd_kill(agentd_t *a)
{
    assert(a != NULL);
    if (a->pid <= 0)
        return;
    kill(a->pid, SIGKILL);
    while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    a->pid = 0;
}

int
agentd_restart(agentd_t *a)
{
    agentd_kill(a);
    return spawn(a);
}

void
agentd_stop(agentd_t *a)
{
    char cmd[128];

    assert(a != NULL);
    agentd_kill(a);
    if (a->dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", a->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "agentd fixture: could not remove %s\n", a->dir);
        a->dir[0] = '\0';
    }
}

agent_t *
agentd_open(const agentd_t *a, const char *token, agent_err_t *err)
{
    agent_conf_t conf = {0};

    assert(a != NULL && a->uri[0] != '\0'); /* started */
    conf.host_id = "agentd";
    conf.uri = a->uri;
    conf.token = token ? token : a->token;
    return agent_open("http", &conf, err);
}

agent_t *
agentd_start_open(agentd_t *a, const char *sim_uri)
{
    agent_err_t err = {0};
    agent_t *agent;

    assert(a != NULL);
    if (agent_builtin_register() != 0 || agentd_start(a, sim_uri) != 0)
        return NULL;
    agent = agentd_open(a, NULL, &err);
    if (agent == NULL) {
        fprintf(stderr, "agentd fixture: the http agent did not open: %s\n", err.message);
        agentd_stop(a);
    }
    return agent;
}
