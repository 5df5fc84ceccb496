/*
 * agentd.h: what the parts of wapd-agent share; not for other programs.
 *
 * wapd-agent is the host daemon of the wapd-agent protocol (schemas/agent.yaml): it serves one
 * agent_t (the sim or libvirt driver, opened with agent_open, so wrapped in the journal and chaos
 * decorators) over HTTP. Four files, one concern each:
 * - main.c: options, the backend, signals and the orderly stop;
 * - files.c: the state dir's own files (agent.token, agent.json), each written whole (tmp, fsync,
 *   rename, fsync dir);
 * - server.c: libmicrohttpd, the listening socket, auth, routing, body limits, the answer;
 * - handlers.c: the route table and each path's handler: request -> one agent_* call -> answer.
 *
 * Ownership: the agentd_t is the process's, built by main before the server starts and freed after
 * it stopped; handlers borrow it and only read it (the agent_t is thread-safe by the contract of
 * lib/agent.h). A request (agentd_req_t) lives from the server's last call for it to its answer:
 * its body and params are the server's, its answer is set exactly once by a handler or the server.
 */
#ifndef WAPD_AGENTD_H
#define WAPD_AGENTD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../../lib/agent.h"
#include "../../lib/agent/wire.h"

#define AGENTD_TOKEN_MAX 256
#define AGENTD_MAX_PARAMS 2
#define AGENTD_BACKEND_MAX 32

typedef struct {
    agent_t *agent;
    char backend[AGENTD_BACKEND_MAX]; /* the agent kind served ("sim", "libvirt") */
    char name[AGENT_NAME_MAX];        /* GET /v1/host's name */
    char token[AGENTD_TOKEN_MAX];     /* the bearer token; never logged */
} agentd_t;

typedef enum {
    AGENTD_BODY_NONE,     /* no body, or {} */
    AGENTD_BODY_REQUIRED, /* a JSON object */
} agentd_body_t;

typedef struct agentd_req {
    const agentd_t *d;
    int arg;                                      /* the route's argument (a power action) */
    char params[AGENTD_MAX_PARAMS][AGENT_ID_MAX]; /* the path's '*' segments, in order */
    json_t *body;      /* the body object, or NULL when none (borrowed) */
    agent_call_t call; /* op id, timeout, progress of this request */
    char op_id[AGENT_WIRE_OP_ID_MAX + 1];
    agent_progress_t progress;
    /* The answer: set once, by agentd_reply or one of the helpers below. */
    int status;
    json_t *answer; /* owned */
} agentd_req_t;

typedef void (*agentd_handler_fn)(agentd_req_t *r);

typedef struct {
    const char *method;
    const char *pattern; /* "/v1/vms/x/disks/x": each "x" matches one segment, captured in params */
    agentd_handler_fn fn;
    int arg;
    agentd_body_t body;
} agentd_route_t;

/* ---- handlers.c ---- */

extern const agentd_route_t agentd_routes[];
extern const size_t agentd_nroutes;

/* ---- server.c ---- */

/* Answers status with body (stolen; NULL: "{}"); asserts the request had no answer yet. A 200 of a
 * call that reported progress (a long operation's final answer) carries it as "progress". */
void agentd_reply(agentd_req_t *r, int status, json_t *body);
/* Answers the protocol's error body for an HTTP status of its table. */
void agentd_reply_error(agentd_req_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* After an agent_* call: true when it succeeded (the caller answers); otherwise the request has
 * been answered (202 with the progress of a pending call, or the error of err) and false is
 * returned. */
bool agentd_ok_or_reply(agentd_req_t *r, int rc, const agent_err_t *err);

typedef struct agentd_server agentd_server_t;

/* Binds HOST:PORT (port 0: any) and listens; *port is the port bound. The socket, or -1 with errno set
 * (and a message on stderr when HOST:PORT is malformed). */
int agentd_listen(const char *hostport, int want_port, int *port);
/* Serves d (borrowed until agentd_server_free) on the listening socket fd (borrowed). NULL on
 * failure. */
agentd_server_t *agentd_server_start(const agentd_t *d, int fd, int threads);
/* Stops accepting connections and waits up to grace_ms for the requests in flight to be answered;
 * answers how many are still in flight. */
int agentd_server_drain(agentd_server_t *s, int grace_ms);
void agentd_server_free(agentd_server_t *s);

/* ---- files.c ---- */

/* Writes DIR/name whole with mode: a temporary file, fsync, rename, fsync of DIR. 0 or -1. */
int agentd_file_write(const char *dir, const char *name, const char *text, int mode);
/* The token: --token, else the first line of --token-file, else DIR/agent.token (generated when
 * absent: 32 random bytes in hex, mode 0600). 0, or -1 with a message on stderr (never the token).
 */
int agentd_token_resolve(const char *dir, const char *token, const char *token_file,
                         char out[AGENTD_TOKEN_MAX]);
/* The port recorded in DIR/agent.json, or 0 when there is none; -1 when the file is unreadable. */
int agentd_port_load(const char *dir);
/* Records {"port": N} in DIR/agent.json. */
int agentd_port_save(const char *dir, int port);

#endif
