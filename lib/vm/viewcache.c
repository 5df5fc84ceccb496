/*
 * viewcache.c: the rendered views of VMs (their JSON text), kept by the record's position, id and
 * revision, shared by every thread.
 *
 * A VM's view is a function of its record alone (and of the form: tenant, tenant without checkpoint,
 * admin), and every change of a record raises its revision; a position is never reused (a record deleted
 * and made again gets a new one). So a kept view whose (position, id, revision, form) all match is the
 * view of the record as the caller's snapshot has it, and nothing ever invalidates it: a changed record is
 * simply asked for under another revision. The table is direct-mapped and bounded (VIEWCACHE_SLOTS views,
 * a few MB), whatever the number of VMs in the store.
 *
 * Invariants: a slot's text is NULL or a NUL-terminated copy of len bytes owned by the slot; every access
 * holds lock.
 */
#include "viewcache.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VIEWCACHE_SLOTS 8192

typedef struct {
    int64_t pos;
    int64_t rev;
    viewcache_form_t form;
    char id[STORE_KEY_ID_MAX];
    char *text;
    size_t len;
} vslot_t;

static vslot_t slots[VIEWCACHE_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static vslot_t *
slot_of(const store_rec_key_t *key, viewcache_form_t form)
{
    /* Consecutive positions (a page) take distinct slots, each form its own. */
    return &slots[((uint64_t) key->pos * 3 + (uint64_t) form) % VIEWCACHE_SLOTS];
}

/* The slot of key when it keeps key's view in that form, else NULL. lock held. */
static vslot_t *
found(const store_rec_key_t *key, viewcache_form_t form)
{
    vslot_t *e = slot_of(key, form);

    if (e->text == NULL || e->pos != key->pos || e->rev != key->rev || e->form != form ||
        strcmp(e->id, key->id) != 0)
        return NULL;
    return e;
}

bool
viewcache_has(const store_rec_key_t *key, viewcache_form_t form)
{
    bool has;

    assert(key != NULL);
    pthread_mutex_lock(&lock);
    has = found(key, form) != NULL;
    pthread_mutex_unlock(&lock);
    return has;
}

bool
viewcache_append(const store_rec_key_t *key, viewcache_form_t form, util_buf_t *b)
{
    vslot_t *e;

    assert(key != NULL && b != NULL);
    pthread_mutex_lock(&lock);
    if ((e = found(key, form)) != NULL)
        util_buf_add(b, e->text, e->len);
    pthread_mutex_unlock(&lock);
    return e != NULL;
}

void
viewcache_put(const store_rec_key_t *key, viewcache_form_t form, const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    vslot_t *e;

    assert(key != NULL && text != NULL && strlen(key->id) < sizeof(e->id));
    if (copy == NULL)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(&lock);
    e = slot_of(key, form);
    free(e->text);
    e->pos = key->pos;
    e->rev = key->rev;
    e->form = form;
    memcpy(e->id, key->id, strlen(key->id) + 1);
    e->text = copy;
    e->len = len;
    pthread_mutex_unlock(&lock);
}
