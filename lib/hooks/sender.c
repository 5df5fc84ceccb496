/*
 * sender.c: the thread that delivers events to hooks (see ../hooks.h).
 *
 * The sender's loop: find the due deliveries of every active hook that has room (its share of the
 * requests in flight), start them, let libcurl run them, and record every finished attempt in one
 * transaction per round. It sleeps in curl_multi_poll until a transfer needs it, the next retry is due,
 * or a commit that wrote events wakes it (curl_multi_wakeup). It starts nothing while its daemon does not
 * lead (store_is_leader): it looks again every RESCAN_MS, or when woken. Only the sender thread touches the
 * transfers in flight; the counters and the stop and wanted flags are atomics. An https receiver is
 * verified (peer and host name) against the options' CA file, which the sender copies, else the system's.
 */
#include "../hooks.h"
#include "hooks_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../events.h"
#include "../jget.h"
#include "../util.h"

#define RESCAN_MS 1000       /* look for due deliveries at least this often */
#define BUSY_WAIT_MS 100     /* when deliveries are due but every slot they could use is taken */
#define FIRST_RETRY_MS 1000  /* the first retry comes after 0.5–1 s */
#define MAX_RETRY_MS 60000

typedef struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    int64_t seq;       /* the delivery */
    int64_t attempt;   /* this attempt's number, from 1 */
    int64_t queued_ms; /* when the delivery was queued: its age decides when to give up */
    char hook_id[UTIL_UUID_LEN + 1];
    char attempt_id[UTIL_UUID_LEN + 1];
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *next;
} xfer_t;

static struct {
    store_t *st;
    hooks_options_t opt;
    char *ca_file; /* owned copy of opt.ca_file, which points at it */
    CURLM *multi;
    pthread_t thread;
    bool running;
    int stop;       /* atomic */
    int wanted;     /* atomic: events were committed since the last scan */
    xfer_t *flying; /* requests in flight (the sender thread's own) */
    int nflying;
    uint64_t ok, failed, given_up; /* atomic */
} S;

void
hooks__wake(void *arg)
{
    (void) arg;
    __atomic_store_n(&S.wanted, 1, __ATOMIC_RELEASE);
    if (S.multi)
        curl_multi_wakeup(S.multi);
}

static int
flying_to(const char *hook_id)
{
    const xfer_t *x;
    int n = 0;

    for (x = S.flying; x; x = x->next)
        n += strcmp(x->hook_id, hook_id) == 0;
    return n;
}

static bool
is_flying(int64_t seq)
{
    const xfer_t *x;

    for (x = S.flying; x; x = x->next)
        if (x->seq == seq)
            return true;
    return false;
}

static void
xfer_free(xfer_t *x)
{
    if (x == NULL)
        return;
    if (x->easy) {
        curl_multi_remove_handle(S.multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x);
}

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
    (void) data;
    (void) arg;
    return size * n; /* the answer's body does not matter, only its status */
}

/* The request's headers, or NULL when out of memory. */
static struct curl_slist *
make_headers(const char *type, const char *attempt_id, const char *sig)
{
    const char *names[] = {"Content-Type", "User-Agent", "X-Wapd-Event", "X-Wapd-Delivery",
                           "X-Wapd-Signature", "Expect"};
    const char *values[] = {"application/json", "wapd/" WAPD_VERSION, type, attempt_id, sig, ""};
    struct curl_slist *list = NULL, *l;
    char line[256];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        /* "Name:" with nothing after the colon tells libcurl to leave that header out. */
        snprintf(line, sizeof(line), values[i][0] ? "%s: %s" : "%s:", names[i], values[i]);
        l = curl_slist_append(list, line);
        if (l == NULL) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = l;
    }
    return list;
}

/* Starts one attempt of delivery d to hook. */
static void
start(const json_t *hook, const json_t *d)
{
    const char *body = jget_str(d, "body"), *secret = jget_str(hook, "secret");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char sig[8 + 2 * EVP_MAX_MD_SIZE + 1];
    xfer_t *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return;
    x->seq = json_integer_value(json_object_get(d, "seq"));
    x->attempt = json_integer_value(json_object_get(d, "attempts")) + 1;
    x->queued_ms = json_integer_value(json_object_get(d, "queuedMs"));
    snprintf(x->hook_id, sizeof(x->hook_id), "%s", jget_str(hook, "id"));
    util_uuid_v7(util_now_ms(), x->attempt_id);
    memcpy(sig, "sha256=", 8);
    if (HMAC(EVP_sha256(), secret, (int) strlen(secret), (const unsigned char *) body, strlen(body),
             mac, &maclen) == NULL) {
        free(x);
        return;
    }
    util_hex(mac, maclen, sig + 7);
    /* An empty Expect: no 100-continue round trip. */
    x->headers = make_headers(jget_str(d, "eventType"), x->attempt_id, sig);
    x->easy = curl_easy_init();
    if (x->headers == NULL || x->easy == NULL) {
        xfer_free(x);
        return;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, jget_str(hook, "url"));
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, S.opt.connect_timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, S.opt.timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (S.opt.ca_file != NULL)
        curl_easy_setopt(x->easy, CURLOPT_CAINFO, S.opt.ca_file);
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(S.multi, x->easy) != CURLM_OK) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        xfer_free(x);
        return;
    }
    x->next = S.flying;
    S.flying = x;
    S.nflying++;
}

/* Starts what is due, within the limits. Returns when to look again: the earliest time a delivery not
 * yet started is due, soon when due ones wait for room, at the latest RESCAN_MS from now. */
static int64_t
scan(int64_t now)
{
    store_filter_t active = {.field = "active", .op = STORE_FILTER_EQ, .value = "1"};
    json_t *hooks, *due, *hook, *d;
    int64_t next = now + RESCAN_MS, at;
    size_t i, j;
    int room, mine;
    err_t err = {0};

    if (!store_is_leader(S.st))
        return next; /* the leader sends; transfers still in flight here finish and are recorded */
    hooks = store_rec_list_all(S.st, &store_kind_hook, &active, 1, &err);
    if (hooks == NULL)
        return next;
    json_array_foreach(hooks, i, hook) {
        mine = flying_to(jget_str(hook, "id"));
        room = S.opt.per_hook - mine;
        if (S.opt.max_in_flight - S.nflying < room)
            room = S.opt.max_in_flight - S.nflying;
        if (room > 0) {
            /* The ones in flight are still pending: ask for enough to find room's worth of others. */
            due = store_deliveries_due(S.st, jget_str(hook, "id"), now, room + mine, &err);
            json_array_foreach(due, j, d) {
                if (room == 0)
                    break;
                if (is_flying(json_integer_value(json_object_get(d, "seq"))))
                    continue;
                start(hook, d);
                room--;
            }
            json_decref(due);
            err_clear(&err);
        }
        if (store_delivery_next_ms(S.st, jget_str(hook, "id"), &at, &err) == 0 && at >= 0) {
            /* Due ones that are in flight or wait for room: a finished transfer brings us back, or this. */
            if (at <= now)
                at = now + BUSY_WAIT_MS;
            if (at < next)
                next = at;
        }
        err_clear(&err);
    }
    json_decref(hooks);
    return next;
}

int64_t
hooks__backoff_ms(int64_t attempt)
{
    int64_t base = FIRST_RETRY_MS;
    uint32_t r = 0;

    while (--attempt > 0 && base < MAX_RETRY_MS)
        base *= 2;
    if (base > MAX_RETRY_MS)
        base = MAX_RETRY_MS;
    util_random_bytes(&r, sizeof(r));
    return base / 2 + (int64_t) (r % (uint32_t) (base / 2 + 1)); /* jitter: half to all of it */
}

/* Records every finished transfer in one transaction; returns how many finished. */
static int
reap(void)
{
    int64_t now = util_now_ms(), next;
    json_t *attempt;
    const char *state;
    CURLMsg *msg;
    xfer_t *x, **pp;
    long code;
    int left, n = 0, finished = 0;
    bool ok;
    err_t err = {0};

    while ((msg = curl_multi_info_read(S.multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &x);
        code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        ok = msg->data.result == CURLE_OK && code >= 200 && code < 300;
        if (n == 0 && store_tx_begin(S.st, &err) != 0) {
            /* The store is unavailable: the attempt is forgotten and the delivery stays due. */
            err_clear(&err);
        } else {
            n++;
            if (ok) {
                state = "succeeded";
                next = now;
            } else if (now - x->queued_ms >= S.opt.max_age_ms) {
                state = "failed";
                next = now;
            } else {
                state = "pending";
                next = now + hooks__backoff_ms(x->attempt);
            }
            attempt = json_pack("{s:s, s:I, s:o, s:o, s:I}", "id", x->attempt_id, "attempt",
                                (json_int_t) x->attempt, "statusCode",
                                code > 0 ? json_integer(code) : json_null(), "error",
                                ok ? json_null()
                                   : json_string(msg->data.result != CURLE_OK
                                                     ? (x->errbuf[0] ? x->errbuf
                                                                     : curl_easy_strerror(
                                                                           msg->data.result))
                                                     : "The receiver did not answer 2xx."),
                                "atMs", (json_int_t) now);
            if (store_delivery_record(S.st, x->seq, attempt, state, next, &err) != 0)
                err_clear(&err);
            json_decref(attempt);
            __atomic_add_fetch(ok ? &S.ok : &S.failed, 1, __ATOMIC_RELAXED);
            if (strcmp(state, "failed") == 0)
                __atomic_add_fetch(&S.given_up, 1, __ATOMIC_RELAXED);
        }
        for (pp = &S.flying; *pp; pp = &(*pp)->next)
            if (*pp == x) {
                *pp = x->next;
                break;
            }
        S.nflying--;
        finished++;
        xfer_free(x);
    }
    if (n > 0 && store_tx_commit(S.st, &err) != 0) {
        store_tx_rollback(S.st);
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"hook deliveries not recorded\",\"detail\":\"%s\"}\n",
                err.message);
    }
    return finished;
}

static void *
sender_main(void *arg)
{
    int64_t next = 0, now;
    int running, timeout;
    bool look = true;

    (void) arg;
    while (!__atomic_load_n(&S.stop, __ATOMIC_ACQUIRE)) {
        now = util_now_ms();
        /* Look for work when it is due, when events were committed, or when a transfer freed room. */
        if (__atomic_exchange_n(&S.wanted, 0, __ATOMIC_ACQ_REL) || look || now >= next)
            next = scan(now);
        curl_multi_perform(S.multi, &running);
        look = reap() > 0;
        if (look || __atomic_load_n(&S.wanted, __ATOMIC_ACQUIRE))
            continue;
        now = util_now_ms();
        timeout = next > now ? (int) (next - now) : 0;
        curl_multi_poll(S.multi, NULL, 0, timeout, NULL);
        curl_multi_perform(S.multi, &running);
        look = reap() > 0;
    }
    while (S.flying) {
        xfer_t *x = S.flying;
        S.flying = x->next;
        xfer_free(x);
    }
    S.nflying = 0;
    return NULL;
}

int
hooks_sender_start(store_t *st, const hooks_options_t *opts, err_t *err)
{
    assert(st != NULL && opts != NULL);
    if (S.running)
        return 0;
    memset(&S, 0, sizeof(S));
    S.st = st;
    if (opts)
        S.opt = *opts;
    if (S.opt.max_in_flight <= 0)
        S.opt.max_in_flight = 512;
    if (S.opt.per_hook <= 0)
        S.opt.per_hook = 8;
    if (S.opt.max_age_ms <= 0)
        S.opt.max_age_ms = 24LL * 3600 * 1000;
    if (S.opt.connect_timeout_ms <= 0)
        S.opt.connect_timeout_ms = 5000;
    if (S.opt.timeout_ms <= 0)
        S.opt.timeout_ms = 10000;
    if (S.opt.ca_file != NULL && (S.ca_file = strdup(S.opt.ca_file)) == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "The hook sender could not start (out of memory).");
    S.opt.ca_file = S.ca_file;
    S.multi = curl_multi_init();
    if (S.multi == NULL) {
        free(S.ca_file);
        S.ca_file = NULL;
        return err_set(err, ERR_INTERNAL, NULL, "The hook sender could not start (libcurl).");
    }
    /* No per-host limit: two hooks on one receiver are still two hooks, each with its own share. */
    curl_multi_setopt(S.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) S.opt.max_in_flight);
    if (pthread_create(&S.thread, NULL, sender_main, NULL) != 0) {
        curl_multi_cleanup(S.multi);
        S.multi = NULL;
        free(S.ca_file);
        S.ca_file = NULL;
        return err_set(err, ERR_INTERNAL, NULL, "The hook sender thread could not start.");
    }
    S.running = true;
    events_set_listener(hooks__wake, NULL);
    return 0;
}

void
hooks_sender_stop(void)
{
    if (!S.running)
        return;
    events_set_listener(NULL, NULL);
    __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
    curl_multi_wakeup(S.multi);
    pthread_join(S.thread, NULL);
    curl_multi_cleanup(S.multi);
    S.multi = NULL;
    free(S.ca_file);
    S.ca_file = NULL;
    S.opt.ca_file = NULL;
    S.running = false;
}

void
hooks_sender_wake(void)
{
    if (S.running)
        hooks__wake(NULL);
}

void
hooks_sender_stats(uint64_t *succeeded, uint64_t *failed, uint64_t *given_up)
{
    *succeeded = __atomic_load_n(&S.ok, __ATOMIC_RELAXED);
    *failed = __atomic_load_n(&S.failed, __ATOMIC_RELAXED);
    *given_up = __atomic_load_n(&S.given_up, __ATOMIC_RELAXED);
}
