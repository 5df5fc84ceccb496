/* Unit tests of lib/job/queue.c, the job engine's queue: jobs are taken in order of due time (first put
 * first among equals), never before they are due; a job is in the queue once, and a requeue keeps its
 * earliest due time; a held job is not taken twice at once, and a wakeup for it while held waits for its
 * release; requests' holds keep workers off a job until the last ends; and the order holds over many
 * jobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/job/queue.h"

static int
queue_setup(void **state)
{
    *state = job__queue_new();
    assert_non_null(*state);
    return 0;
}

static int
queue_teardown(void **state)
{
    job__queue_free(*state);
    return 0;
}

/* Takes the job due first by now_ms into out, asserting there is one. */
static const char *
take(job_queue_t *q, int64_t now_ms, char out[UTIL_UUID_LEN + 1])
{
    int64_t next = 0;

    assert_true(job__queue_take(q, now_ms, out, &next));
    return out;
}

static void
takes_in_order_of_due_time(void **state)
{
    job_queue_t *q = *state;
    char id[UTIL_UUID_LEN + 1];
    int64_t next = 0;

    assert_int_equal(job__queue_put(q, "late", 300), 0);
    assert_int_equal(job__queue_put(q, "first", 100), 0);
    assert_int_equal(job__queue_put(q, "second", 100), 0); /* the same due time: after "first" */
    assert_int_equal(job__queue_put(q, "middle", 200), 0);
    assert_int_equal(job__queue_len(q), 4);
    /* Nothing is taken before it is due; the answer says when the first one is. */
    assert_false(job__queue_take(q, 99, id, &next));
    assert_int_equal(next, 100);
    assert_string_equal(take(q, 1000, id), "first");
    assert_string_equal(take(q, 1000, id), "second");
    assert_string_equal(take(q, 1000, id), "middle");
    assert_false(job__queue_take(q, 299, id, &next));
    assert_int_equal(next, 300);
    assert_string_equal(take(q, 300, id), "late");
    assert_false(job__queue_take(q, 1000, id, &next));
    assert_int_equal(next, INT64_MAX);
    assert_int_equal(job__queue_len(q), 0);
}

static void
a_requeue_keeps_the_earliest_due_time(void **state)
{
    job_queue_t *q = *state;
    char id[UTIL_UUID_LEN + 1];
    int64_t next = 0;

    assert_int_equal(job__queue_put(q, "a", 500), 0);
    assert_int_equal(job__queue_put(q, "b", 400), 0);
    assert_int_equal(job__queue_put(q, "a", 900), 0); /* later: a keeps 500 */
    assert_int_equal(job__queue_len(q), 2);           /* a is queued once */
    assert_int_equal(job__queue_put(q, "a", 100), 0); /* earlier: a moves up */
    assert_int_equal(job__queue_next_due(q), 100);
    assert_string_equal(take(q, 100, id), "a");
    assert_false(job__queue_take(q, 399, id, &next));
    assert_int_equal(next, 400);
    assert_string_equal(take(q, 400, id), "b");
}

static void
no_job_is_taken_twice_at_once(void **state)
{
    job_queue_t *q = *state;
    char id[UTIL_UUID_LEN + 1];
    int64_t next = 0, since = 0;

    assert_int_equal(job__queue_put(q, "a", 10), 0);
    assert_string_equal(take(q, 50, id), "a");
    assert_int_equal(job__queue_holder(q, "a", &since), JOB_QUEUE_WORKER);
    assert_int_equal(since, 50);
    /* Woken again while a worker runs it (a retry, a restart): it waits for the worker, with the
     * earliest of the due times it was given. */
    assert_int_equal(job__queue_put(q, "a", 300), 0);
    assert_int_equal(job__queue_put(q, "a", 200), 0);
    assert_int_equal(job__queue_put(q, "a", 250), 0);
    assert_int_equal(job__queue_len(q), 1);
    assert_false(job__queue_take(q, 1000, id, &next));
    assert_int_equal(next, INT64_MAX);
    /* Nor does a request get hold of it. */
    assert_false(job__queue_hold(q, "a"));
    job__queue_release(q, "a");
    assert_int_equal(job__queue_holder(q, "a", NULL), JOB_QUEUE_FREE);
    assert_int_equal(job__queue_next_due(q), 200);
    assert_string_equal(take(q, 200, id), "a");
    job__queue_release(q, "a"); /* not woken meanwhile: gone from the queue */
    assert_int_equal(job__queue_len(q), 0);
    assert_false(job__queue_take(q, 1000, id, &next));
}

static void
a_hold_keeps_workers_off_a_job(void **state)
{
    job_queue_t *q = *state;
    char id[UTIL_UUID_LEN + 1];
    int64_t next = 0;

    assert_int_equal(job__queue_put(q, "a", 10), 0);
    assert_int_equal(job__queue_put(q, "b", 20), 0);
    assert_true(job__queue_hold(q, "a"));
    assert_int_equal(job__queue_holder(q, "a", NULL), JOB_QUEUE_OTHER);
    assert_true(job__queue_hold(q, "a")); /* two requests at once */
    assert_string_equal(take(q, 100, id), "b");
    assert_false(job__queue_take(q, 100, id, &next));
    job__queue_release(q, "a"); /* not a worker's: no effect */
    job__queue_unhold(q, "a");
    assert_false(job__queue_take(q, 100, id, &next)); /* one request still holds it */
    job__queue_unhold(q, "a");
    assert_string_equal(take(q, 100, id), "a");
    job__queue_unhold(q, "a"); /* a worker's hold ends only by release */
    assert_int_equal(job__queue_holder(q, "a", NULL), JOB_QUEUE_WORKER);
    job__queue_release(q, "a");
    job__queue_release(q, "b");
    /* A job held that was not queued is not queued by its release. */
    assert_true(job__queue_hold(q, "c"));
    job__queue_unhold(q, "c");
    assert_int_equal(job__queue_len(q), 0);
    assert_false(job__queue_take(q, 100, id, &next));
}

/* Many jobs, put in a scrambled order with some requeued earlier and some held: each comes out once, in
 * order of due time. */
static void
keeps_its_order_over_many_jobs(void **state)
{
    job_queue_t *q = *state;
    enum { N = 5000 };
    char id[UTIL_UUID_LEN + 1], name[32];
    int64_t last = -1, due, next = 0;
    static bool seen[N];
    int i, k, taken = 0;

    memset(seen, 0, sizeof(seen));
    for (i = 0; i < N; i++) {
        k = (i * 7919) % N; /* 7919 is prime to N: every k once */
        snprintf(name, sizeof(name), "job-%d", k);
        assert_int_equal(job__queue_put(q, name, 10 * (int64_t) k + 5), 0);
    }
    for (i = 0; i < N; i += 3) { /* every third job requeued 5 ms earlier */
        snprintf(name, sizeof(name), "job-%d", i);
        assert_int_equal(job__queue_put(q, name, 10 * (int64_t) i), 0);
    }
    for (i = 1; i < N; i += 100) { /* some held and let go again */
        snprintf(name, sizeof(name), "job-%d", i);
        assert_true(job__queue_hold(q, name));
        job__queue_unhold(q, name);
    }
    assert_int_equal(job__queue_len(q), N);
    while (job__queue_take(q, INT64_MAX - 1, id, &next)) {
        assert_int_equal(sscanf(id, "job-%d", &k), 1);
        assert_false(seen[k]);
        seen[k] = true;
        due = 10 * (int64_t) k + (k % 3 == 0 ? 0 : 5);
        assert_true(due >= last);
        last = due;
        job__queue_release(q, id);
        taken++;
    }
    assert_int_equal(taken, N);
    assert_int_equal(job__queue_len(q), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(takes_in_order_of_due_time, queue_setup, queue_teardown),
        cmocka_unit_test_setup_teardown(a_requeue_keeps_the_earliest_due_time, queue_setup,
                                        queue_teardown),
        cmocka_unit_test_setup_teardown(no_job_is_taken_twice_at_once, queue_setup, queue_teardown),
        cmocka_unit_test_setup_teardown(a_hold_keeps_workers_off_a_job, queue_setup, queue_teardown),
        cmocka_unit_test_setup_teardown(keeps_its_order_over_many_jobs, queue_setup, queue_teardown),
    };

    return cmocka_run_group_tests_name("job_queue", tests, NULL, NULL);
}
