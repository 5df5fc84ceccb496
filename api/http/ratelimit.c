/*
 * ratelimit.c: the tenant listener's rate limit, one token bucket per tenant token.
 *
 * With N = ctx->rate_limit (read on every request, so that a change made while the daemon runs applies at
 * once; 0 turns the limit off) each token has a bucket of 2N requests, full when the token is first seen and
 * refilled at N per second. A request takes one from its bucket; an empty bucket answers 429
 * TooManyRequests with Retry-After, the whole seconds (at least 1) until one request is back. A change of N
 * keeps each bucket's level, capped at the new 2N. The pipeline calls this right after authentication on
 * the tenant listener only: the admin listener, unauthenticated requests and public routes (/healthz) are
 * never limited.
 *
 * Memory is bounded: a fixed table of RL_STRIPES stripes of RL_SLOTS buckets, each stripe behind its own
 * mutex. A token (keyed by the first 128 bits of its digest, r->scope) probes RL_PROBE slots of its stripe;
 * a token not found takes a free slot there, else the one whose bucket is fullest (an idle token's bucket
 * is full, and forgetting a full bucket changes nothing: it would be full again when next seen). Only when
 * more than RL_PROBE tokens are busy in one probe window at once can a token get a fresh bucket early.
 */
#include "../internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_STRIPES 64
#define RL_SLOTS 64 /* per stripe */
#define RL_PROBE 8
#define RL_KEY_LEN 32 /* hex characters of the digest kept as the key */

typedef struct {
    char key[RL_KEY_LEN + 1]; /* "": free */
    double level;             /* requests left */
    int64_t at_ns;            /* when level was last brought up to date */
} rl_bucket_t;

typedef struct {
    pthread_mutex_t lock;
    rl_bucket_t slots[RL_SLOTS];
} rl_stripe_t;

struct api_ratelimit {
    rl_stripe_t stripes[RL_STRIPES];
};

static api_ratelimit_t global_table;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static uint64_t refused_total; /* atomic */

static void
table_init(api_ratelimit_t *t)
{
    int i;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < RL_STRIPES; i++)
        pthread_mutex_init(&t->stripes[i].lock, NULL);
}

static void
global_init(void)
{
    table_init(&global_table);
}

api_ratelimit_t *
api_ratelimit__new(void)
{
    api_ratelimit_t *t = malloc(sizeof(*t));

    if (t != NULL)
        table_init(t);
    return t;
}

void
api_ratelimit__free(api_ratelimit_t *t)
{
    int i;

    if (t == NULL)
        return;
    for (i = 0; i < RL_STRIPES; i++)
        pthread_mutex_destroy(&t->stripes[i].lock);
    free(t);
}

/* FNV-1a of the key: the digest is already uniform, but a test's keys need not be. */
static uint64_t
key_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *key; key++)
        h = (h ^ (unsigned char) *key) * 1099511628211ULL;
    return h;
}

/* The level of b at now_ns with refill rate n and capacity cap. */
static double
level_at(const rl_bucket_t *b, int n, double cap, int64_t now_ns)
{
    double level = b->level;

    if (now_ns > b->at_ns)
        level += (double) (now_ns - b->at_ns) / 1e9 * n;
    return level < cap ? level : cap;
}

/* The bucket of key in stripe s (lock held): found, a free slot, or the fullest one in its probe window,
 * the last two made full and keyed to key. */
static rl_bucket_t *
bucket_find(rl_stripe_t *s, const char *key, uint64_t h, int n, double cap, int64_t now_ns)
{
    rl_bucket_t *b, *pick = NULL;
    double best = -1, level;
    int i;

    for (i = 0; i < RL_PROBE; i++) {
        b = &s->slots[(h + (uint64_t) i) % RL_SLOTS];
        if (strcmp(b->key, key) == 0)
            return b;
        level = b->key[0] ? level_at(b, n, cap, now_ns) : cap + 1; /* a free slot first */
        if (level > best) {
            best = level;
            pick = b;
        }
    }
    assert(pick != NULL);
    snprintf(pick->key, sizeof(pick->key), "%s", key);
    pick->level = cap;
    pick->at_ns = now_ns;
    return pick;
}

int
api_ratelimit__take(api_ratelimit_t *t, const char *key, int n, int64_t now_ns, int *retry_after)
{
    char k[RL_KEY_LEN + 1];
    double cap = 2.0 * n, level, wait;
    uint64_t h;
    rl_stripe_t *s;
    rl_bucket_t *b;
    int refused = 0;

    assert(t != NULL && key != NULL && retry_after != NULL);
    if (n <= 0)
        return 0;
    snprintf(k, sizeof(k), "%s", key);
    h = key_hash(k);
    s = &t->stripes[h % RL_STRIPES];
    h /= RL_STRIPES;
    pthread_mutex_lock(&s->lock);
    b = bucket_find(s, k, h, n, cap, now_ns);
    level = level_at(b, n, cap, now_ns);
    if (level >= 1.0) {
        level -= 1.0;
    } else {
        refused = 1;
        wait = (1.0 - level) / n; /* seconds until one request is back, rounded up */
        *retry_after = (int) wait < wait ? (int) wait + 1 : (int) wait;
        if (*retry_after < 1)
            *retry_after = 1;
    }
    b->level = level;
    if (now_ns > b->at_ns)
        b->at_ns = now_ns;
    pthread_mutex_unlock(&s->lock);
    return refused;
}

int
api_ratelimit_or_reply(api_req_t *r)
{
    int n, retry = 1;

    assert(r != NULL && r->ctx != NULL);
    assert(r->listener == API_LISTENER_TENANT && r->scope[0] != '\0'); /* after authentication */
    n = r->ctx->rate_limit;
    if (n <= 0)
        return 0;
    pthread_once(&global_once, global_init);
    if (!api_ratelimit__take(&global_table, r->scope, n, util_mono_ns(), &retry))
        return 0;
    __atomic_add_fetch(&refused_total, 1, __ATOMIC_RELAXED);
    api_reply_error(r, ERR_TOO_MANY_REQUESTS, NULL,
                    "This token sent more than %d requests a second; retry after %d s.", n, retry);
    r->retry_after = retry;
    return -1;
}

uint64_t
api_ratelimit_refused(void)
{
    return __atomic_load_n(&refused_total, __ATOMIC_RELAXED);
}
