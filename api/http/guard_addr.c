/*
 * guard_addr.c: the per-address counts of a plain-HTTP listener's front (see guard.h): how many connections
 * each client address has, held by the guard (guard.c) or handed over to libmicrohttpd and not yet ended.
 * Taken on the guard's thread and dropped on libmicrohttpd's, so under a lock of its own.
 */
#include "guard.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One client address's connections. */
typedef struct addr_count {
    struct addr_count *next;
    unsigned char key[16];
    int count;
} addr_count_t;

#define ADDR_BUCKETS 1024

struct api_guard_addrs {
    pthread_mutex_t lock;
    addr_count_t *buckets[ADDR_BUCKETS];
};

api_guard_addrs_t *
api_guard_addrs_new(void)
{
    api_guard_addrs_t *t = calloc(1, sizeof(*t));

    if (t != NULL)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

void
api_guard_addrs_free(api_guard_addrs_t *t)
{
    addr_count_t *a, *next;
    int b;

    if (t == NULL)
        return;
    for (b = 0; b < ADDR_BUCKETS; b++)
        for (a = t->buckets[b]; a != NULL; a = next) {
            next = a->next;
            free(a);
        }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* The address's key: IPv4 (also when mapped into IPv6) and IPv6 addresses by their bytes, others as one. */
static void
addr_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        memcpy(key + 12, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        key[10] = key[11] = 0xff;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
    }
}

static unsigned
addr_hash(const unsigned char key[16])
{
    unsigned h = 2166136261u;
    int i;

    for (i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % ADDR_BUCKETS;
}

int
api_guard_addrs_take(api_guard_addrs_t *t, const struct sockaddr *sa, int limit)
{
    unsigned char key[16];
    addr_count_t *a;
    unsigned b;

    int rc = 0;

    addr_key(sa, key);
    b = addr_hash(key);
    pthread_mutex_lock(&t->lock);
    for (a = t->buckets[b]; a != NULL; a = a->next)
        if (memcmp(a->key, key, 16) == 0)
            break;
    if (a == NULL && (a = calloc(1, sizeof(*a))) != NULL) {
        memcpy(a->key, key, 16);
        a->next = t->buckets[b];
        t->buckets[b] = a;
    }
    if (a == NULL)
        rc = limit > 0 ? -1 : 0;
    else if (limit > 0 && a->count >= limit)
        rc = -1;
    else
        a->count++;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void
api_guard_addrs_drop(api_guard_addrs_t *t, const struct sockaddr *sa)
{
    unsigned char key[16];
    addr_count_t *a, **pp;

    addr_key(sa, key);
    pthread_mutex_lock(&t->lock);
    for (pp = &t->buckets[addr_hash(key)]; (a = *pp) != NULL; pp = &a->next)
        if (memcmp(a->key, key, 16) == 0) {
            if (--a->count <= 0) {
                *pp = a->next;
                free(a);
            }
            break;
        }
    pthread_mutex_unlock(&t->lock);
}
