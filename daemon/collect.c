/*
 * collect.c: wapd-collect, the reference usage collector for billing.
 *
 *   wapd-collect --url http[s]://HOST:PORT --out usage.jsonl --state cursor.txt
 *                [--token TOKEN | WAPD_ADMIN_TOKEN] [--cacert FILE] [--interval-ms 1000] [--once]
 *
 * It polls GET /v1/admin/usage?after=<cursor> on the admin listener and appends every record as one JSON
 * line to --out, then saves the cursor in --state. It never misses a record (the cursor is saved only after
 * the records are on disk) and never writes one twice: a crash between the two leaves at most one batch
 * written past the saved cursor, and on the next start the ids at the end of --out are skipped when the
 * batch comes again. Once a cursor is saved it acknowledges it (POST /v1/admin/usage/ack), so that wapd may
 * purge what it has stored once the retention time passes; an acknowledgement that fails is sent again at the
 * next poll (it is idempotent, and never ahead of what is on disk). SIGTERM or SIGINT makes it finish the
 * batch in hand and exit 0; started again, it resumes from the saved cursor. An https URL is verified (peer
 * and host name) against --cacert when given, else the system's CAs. The token needs only the
 * usage scope (a named admin token of scope usage can read the feed and acknowledge it, nothing else).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define BATCH 1000
#define TAIL_IDS (2 * BATCH)

static volatile sig_atomic_t stopping;
/* The CA bundle https answers are verified against (--cacert), or NULL: the system's. */
static const char *ca_file;

static void
on_signal(int sig)
{
    (void) sig;
    stopping = 1;
}

typedef struct {
    char *buf;
    size_t len;
} body_t;

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
    body_t *b = arg;
    char *grown = realloc(b->buf, b->len + size * n + 1);

    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, p, size * n);
    b->buf = grown;
    b->len += size * n;
    b->buf[b->len] = '\0';
    return size * n;
}

/* An answer whose body is not needed. */
static size_t
on_data_discard(char *p, size_t size, size_t n, void *arg)
{
    (void) p;
    (void) arg;
    return size * n;
}

/* The options every request shares: timeouts and how https is verified. */
static void
set_common(CURL *curl)
{
    assert(curl != NULL);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
}

/* The ids of the last records in the output file: those written past the saved cursor, if any. */
static json_t *
tail_ids(const char *path)
{
    json_t *ids = json_object(), *rec;
    char line[8192];
    long count = 0, skip;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return ids;
    while (fgets(line, sizeof(line), f))
        count++;
    rewind(f);
    skip = count > TAIL_IDS ? count - TAIL_IDS : 0;
    while (fgets(line, sizeof(line), f)) {
        if (skip-- > 0)
            continue;
        rec = json_loads(line, 0, NULL);
        if (json_is_string(json_object_get(rec, "id")))
            json_object_set_new(ids, json_string_value(json_object_get(rec, "id")), json_true());
        json_decref(rec);
    }
    fclose(f);
    return ids;
}

static int
read_cursor(const char *path, char *cursor, size_t n)
{
    FILE *f;

    assert(path != NULL && cursor != NULL && n > 0);
    f = fopen(path, "r");
    cursor[0] = '\0';
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    if (fgets(cursor, (int) n, f) == NULL)
        cursor[0] = '\0';
    fclose(f);
    cursor[strcspn(cursor, "\r\n")] = '\0';
    return 0;
}

static int
save_cursor(const char *path, const char *cursor)
{
    char tmp[4096];
    int fd;

    assert(path != NULL && cursor != NULL);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    if (write(fd, cursor, strlen(cursor)) != (ssize_t) strlen(cursor) || fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return rename(tmp, path);
}

/* Acknowledges cursor (saved, so every record before it is on disk) unless acked already holds it; 0 when
 * wapd took it. A separate handle keeps the poll's GET options untouched. */
static int
ack_cursor(const char *url, const char *auth, const char *cursor, char *acked, size_t acked_n)
{
    char full[8192];
    struct curl_slist *headers;
    json_t *body;
    char *text;
    long status = 0;
    CURL *curl;
    int rc = -1;

    assert(url != NULL && auth != NULL && cursor != NULL && acked != NULL);
    if (cursor[0] == '\0' || strcmp(cursor, acked) == 0)
        return 0;
    body = json_pack("{s:s}", "cursor", cursor);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    curl = curl_easy_init();
    headers = curl_slist_append(curl_slist_append(NULL, auth), "Content-Type: application/json");
    if (text != NULL && curl != NULL && headers != NULL) {
        snprintf(full, sizeof(full), "%s/v1/admin/usage/ack", url);
        curl_easy_setopt(curl, CURLOPT_URL, full);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data_discard);
        set_common(curl);
        if (curl_easy_perform(curl) == CURLE_OK &&
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status / 100 == 2) {
            snprintf(acked, acked_n, "%s", cursor);
            rc = 0;
        }
    }
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    free(text);
    json_decref(body);
    return rc;
}

/* One poll: fetch after cursor, append new records, save the new cursor. Returns the number of records
 * received, or -1. */
static int
poll_once(CURL *curl, const char *url, const char *auth, const char *out_path,
          const char *state_path, char *cursor, size_t cursor_n, json_t *seen)
{
    char full[8192];
    body_t body = {NULL, 0};
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    long status = 0;
    json_t *doc = NULL, *rec;
    const char *next, *id;
    FILE *out = NULL;
    size_t i;
    int n = -1;
    char *line;

    assert(curl != NULL && url != NULL && auth != NULL && out_path != NULL && state_path != NULL);
    assert(cursor != NULL && cursor_n > 0 && seen != NULL);
    snprintf(full, sizeof(full), "%s/v1/admin/usage?limit=%d%s%s", url, BATCH,
             cursor[0] ? "&after=" : "", cursor);
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    set_common(curl);
    if (curl_easy_perform(curl) != CURLE_OK)
        goto out; /* the daemon is away: try again later */
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        goto out;
    doc = json_loads(body.buf ? body.buf : "", 0, NULL);
    next = json_string_value(json_object_get(doc, "nextCursor"));
    if (!json_is_array(json_object_get(doc, "value")) || next == NULL)
        goto out;
    n = (int) json_array_size(json_object_get(doc, "value"));
    if (n > 0) {
        out = fopen(out_path, "a");
        if (out == NULL) {
            n = -1;
            goto out;
        }
        json_array_foreach(json_object_get(doc, "value"), i, rec) {
            id = json_string_value(json_object_get(rec, "id"));
            if (id == NULL || json_object_get(seen, id))
                continue; /* written before the last crash */
            line = json_dumps(rec, JSON_COMPACT);
            if (line == NULL || fprintf(out, "%s\n", line) < 0) {
                free(line);
                n = -1;
                goto out;
            }
            free(line);
            json_object_set_new(seen, id, json_true());
        }
        if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
            n = -1;
            goto out;
        }
    }
    /* Only now, with the records on disk, does the cursor move. */
    if (strcmp(next, cursor) != 0) {
        if (save_cursor(state_path, next) != 0) {
            n = -1;
            goto out;
        }
        snprintf(cursor, cursor_n, "%s", next);
    }
    if (json_object_size(seen) > 4 * TAIL_IDS)
        json_object_clear(seen); /* far behind the saved cursor now */
out:
    if (out)
        fclose(out);
    json_decref(doc);
    free(body.buf);
    curl_slist_free_all(headers);
    return n;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},   {"out", required_argument, NULL, 'o'},
        {"state", required_argument, NULL, 's'}, {"token", required_argument, NULL, 't'},
        {"interval-ms", required_argument, NULL, 'i'}, {"once", no_argument, NULL, '1'},
        {"cacert", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *out = NULL, *state = NULL, *token = getenv("WAPD_ADMIN_TOKEN");
    long interval = 1000;
    int once = 0, opt, n;
    char cursor[256], acked[256] = "", auth[1024];
    struct sigaction sa;
    struct timespec pause;
    json_t *seen;
    CURL *curl;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            state = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'i':
            interval = strtol(optarg, NULL, 10);
            break;
        case '1':
            once = 1;
            break;
        case 'c':
            ca_file = optarg;
            break;
        default:
            fprintf(stderr, "usage: wapd-collect --url URL --out FILE --state FILE [--token T] "
                            "[--cacert FILE] [--interval-ms N] [--once]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (url == NULL || out == NULL || state == NULL || token == NULL || interval < 1) {
        fprintf(stderr, "wapd-collect: --url, --out, --state and a token (--token or "
                        "WAPD_ADMIN_TOKEN) are required\n");
        return 2;
    }
    if (ca_file != NULL && access(ca_file, R_OK) != 0) {
        fprintf(stderr, "wapd-collect: cannot read --cacert %s: %s\n", ca_file, strerror(errno));
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (read_cursor(state, cursor, sizeof(cursor)) != 0) {
        fprintf(stderr, "wapd-collect: cannot read %s\n", state);
        return 1;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    seen = tail_ids(out);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    while (!stopping) {
        n = poll_once(curl, url, auth, out, state, cursor, sizeof(cursor), seen);
        if (n >= 0)
            ack_cursor(url, auth, cursor, acked, sizeof(acked)); /* a failure is retried next poll */
        if (once && n >= 0 && n < BATCH)
            break;
        if (n == BATCH)
            continue; /* more is waiting */
        pause.tv_sec = interval / 1000;
        pause.tv_nsec = (interval % 1000) * 1000000L;
        nanosleep(&pause, NULL);
    }
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    json_decref(seen);
    return 0;
}
