/*
 * fixture.h: the store fixture shared by unit tests: a fresh database in a temporary directory per test,
 * removed with everything in it afterwards. Include after <cmocka.h>.
 */
#ifndef WAPD_TEST_FIXTURE_H
#define WAPD_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../lib/agent.h"
#include "../../lib/store.h"

typedef struct {
    char dir[64];
    char path[128];
    store_t *st;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    err_t err = {0};

    snprintf(f->dir, sizeof(f->dir), "/tmp/wapd-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/wapd.db", f->dir);
    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    assert_int_equal(agent_builtin_register(), 0); /* hosts name the kinds of the registry */
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[160];

    store_close(f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char *
id_of(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "id"));
}

#endif
