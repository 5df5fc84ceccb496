/*
 * test_agent_tmp.h: the temporary state directory of the agent tests (test_agent*.c): made fresh for a
 * test, removed with everything in it afterwards. Include after <cmocka.h>.
 */
#ifndef WAPD_TEST_AGENT_TMP_H
#define WAPD_TEST_AGENT_TMP_H

#include <stdio.h>
#include <stdlib.h>

#define AGENT_TMP_LEN 64

static inline void
agent_tmp_make(char dir[AGENT_TMP_LEN])
{
    snprintf(dir, AGENT_TMP_LEN, "/tmp/wapd-agent-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static inline void
agent_tmp_remove(const char *dir)
{
    char cmd[AGENT_TMP_LEN + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A test's directory, and a file path in it the test may name. */
typedef struct {
    char dir[AGENT_TMP_LEN];
    char path[AGENT_TMP_LEN + 64];
} agent_tmp_t;

static inline agent_tmp_t *
agent_tmp_new(void)
{
    agent_tmp_t *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    agent_tmp_make(t->dir);
    return t;
}

/* A cmocka teardown for a state made by agent_tmp_new. */
static inline int
agent_tmp_teardown(void **state)
{
    agent_tmp_t *t = *state;

    agent_tmp_remove(t->dir);
    free(t);
    return 0;
}

#endif
