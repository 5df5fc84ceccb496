/*
 * baseline.c: the benchmark's yardstick, a minimal libmicrohttpd server that answers every request with a
 * fixed JSON body, configured as wapd's listeners are (epoll thread pool, answer on the second call so that
 * keep-alive holds). wapd's figures are reported as ratios to this server's, measured in the same run.
 *
 *   baseline PORT THREADS
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static const char body[] =
    "{\"id\":\"0b8f6a52-5d7e-4f43-9c1e-2f7d8f1e6a10\",\"displayName\":\"bench\",\"state\":\"active\","
    "\"planId\":\"5a1f2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b\",\"planName\":\"gold\",\"quotas\":{\"vms\":10},"
    "\"usage\":{\"vms\":0},\"checkpointMode\":\"createViewRestore\"}";

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
    static int marker;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void) cls;
    (void) url;
    (void) method;
    (void) version;
    (void) upload;
    if (*req_cls == NULL) {
        *req_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *) body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    sigset_t set;
    int sig;

    if (argc != 3) {
        fprintf(stderr, "usage: baseline PORT THREADS\n");
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t) atoi(argv[1]), NULL, NULL,
                         on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned) atoi(argv[2]),
                         MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "baseline: cannot start on port %s\n", argv[1]);
        return 1;
    }
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
