/*
 * test_wapctl.c: the admin CLI's parts that need no daemon: option names from field paths, the parsing of
 * a verb's arguments into a JSON body or a query string, and the table and JSON output.
 *
 * Linked with every file of daemon/wapctl but main.c. Output tests point stdout at a temporary file and read it
 * back; every test frees what it made.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/wapctl/nouns.h"

static const wapctl_field_t fields[] = {
    {"name", WAPCTL_F_STR, NULL, NULL},
    {"description", WAPCTL_F_STRN, NULL, NULL},
    {"cores", WAPCTL_F_INT, NULL, NULL},
    {"checkpointRetentionHours", WAPCTL_F_INTN, NULL, NULL},
    {"active", WAPCTL_F_BOOL, NULL, NULL},
    {"imageIds", WAPCTL_F_LIST, NULL, NULL},
    {"quotas", WAPCTL_F_QUOTA, "quota", NULL},
    {"capacity.memoryMB", WAPCTL_F_INT, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

static void
option_names_are_kebab_case(void **state)
{
    static const struct {
        const char *path, *option;
    } cases[] = {
        {"cloudId", "cloud-id"},
        {"memoryMB", "memory-mb"},
        {"osDiskGB", "os-disk-gb"},
        {"agent.caFile", "agent-ca-file"},
        {"dynamicMemory.minimumMB", "dynamic-memory-minimum-mb"},
        {"checkpointRetentionHours", "checkpoint-retention-hours"},
        {"name", "name"},
    };
    wapctl_field_t f = {NULL, WAPCTL_F_STR, NULL, NULL};
    char buf[64];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f.path = cases[i].path;
        wapctl_field_option(&f, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].option);
    }
    wapctl_field_option(&fields[6], buf, sizeof(buf));
    assert_string_equal(buf, "quota");
}

static void
options_take_the_api_types(void **state)
{
    char *argv[] = {"ID",          "--name",       "web",   "--cores",     "4",
                    "--active",    "false",        "--description", "null",
                    "--checkpoint-retention-hours=12", "--image-id", "a",   "--image-ids",
                    "b,c",         "--quota",      "vms=3", "--quota",     "cores=null",
                    "--capacity-memory-mb", "2048"};
    json_t *body = NULL, *want;
    char *pos[1] = {NULL};

    (void) state;
    assert_int_equal(wapctl_args_parse("plans", "update", fields, sizeof(argv) / sizeof(argv[0]), argv, 1,
                                       pos, &body),
                     WAPCTL_OK);
    assert_string_equal(pos[0], "ID");
    want = json_pack("{s:s, s:i, s:b, s:n, s:i, s:[s,s,s], s:{s:i, s:n}, s:{s:i}}", "name", "web", "cores",
                     4, "active", 0, "description", "checkpointRetentionHours", 12, "imageIds", "a", "b",
                     "c", "quotas", "vms", 3, "cores", "capacity", "memoryMB", 2048);
    assert_non_null(want);
    assert_true(json_equal(body, want));
    json_decref(want);
    json_decref(body);
}

static void
an_empty_list_value_clears_the_list(void **state)
{
    char *argv[] = {"--image-ids", ""};
    json_t *body = NULL;

    (void) state;
    assert_int_equal(wapctl_args_parse("plans", "update", fields, 2, argv, 0, NULL, &body), WAPCTL_OK);
    assert_true(json_is_array(json_object_get(body, "imageIds")));
    assert_int_equal(json_array_size(json_object_get(body, "imageIds")), 0);
    json_decref(body);
}

static void
filters_become_a_query(void **state)
{
    char *argv[] = {"--name", "a b&c", "--cores=2"};
    json_t *body = NULL;
    char *query = NULL;

    (void) state;
    assert_int_equal(wapctl_args_parse("jobs", "list", fields, 3, argv, 0, NULL, &body), WAPCTL_OK);
    assert_int_equal(wapctl_query_of(body, &query), 0);
    assert_string_equal(query, "?name=a%20b%26c&cores=2");
    free(query);
    json_decref(body);
    body = json_object();
    assert_int_equal(wapctl_query_of(body, &query), 0);
    assert_null(query);
    json_decref(body);
}

static void
bad_arguments_are_usage_errors(void **state)
{
    char *unknown[] = {"--nope", "1"};
    char *not_int[] = {"--cores", "two"};
    char *not_bool[] = {"--active", "yes"};
    char *bad_quota[] = {"--quota", "vms"};
    char *no_value[] = {"--name"};
    char *extra[] = {"ID", "more"};
    json_t *body = NULL;
    char *pos[1] = {NULL};

    (void) state;
    assert_int_equal(wapctl_args_parse("n", "v", fields, 2, unknown, 0, NULL, &body), WAPCTL_USAGE);
    assert_int_equal(wapctl_args_parse("n", "v", fields, 2, not_int, 0, NULL, &body), WAPCTL_USAGE);
    assert_int_equal(wapctl_args_parse("n", "v", fields, 2, not_bool, 0, NULL, &body), WAPCTL_USAGE);
    assert_int_equal(wapctl_args_parse("n", "v", fields, 2, bad_quota, 0, NULL, &body), WAPCTL_USAGE);
    assert_int_equal(wapctl_args_parse("n", "v", fields, 1, no_value, 0, NULL, &body), WAPCTL_USAGE);
    assert_int_equal(wapctl_args_parse("n", "v", fields, 2, extra, 1, pos, &body), WAPCTL_USAGE);
    assert_int_equal(wapctl_args_parse("n", "v", fields, 0, NULL, 1, pos, &body), WAPCTL_USAGE);
    assert_null(body); /* nothing is written on an error */
}

static void
every_noun_has_verbs_or_runs_itself(void **state)
{
    const wapctl_noun_t *n;
    const wapctl_verb_t *v;

    (void) state;
    for (n = wapctl_nouns; n->name != NULL; n++) {
        assert_true(n->verbs != NULL || n->run != NULL);
        assert_ptr_equal(wapctl_noun_find(n->name), n);
        for (v = n->verbs; v != NULL && v->name != NULL; v++)
            assert_true(v->kind != WAPCTL_V_CUSTOM || v->run != NULL);
    }
    assert_null(wapctl_noun_find("nothing"));
}

/* Runs wapctl_print with stdout sent to a temporary file; returns what it printed (malloc'd). */
static char *
printed(wapctl_output_t output, const json_t *value, const char *const *columns)
{
    wapctl_t c = {.output = output};
    char path[] = "/tmp/wapctl-unit-XXXXXX";
    int fd = mkstemp(path), saved;
    char *text = NULL;
    size_t n = 0;
    FILE *f;

    assert_true(fd >= 0);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    wapctl_print(&c, value, columns);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    f = fdopen(fd, "r");
    assert_non_null(f);
    rewind(f);
    assert_true(getdelim(&text, &n, '\0', f) >= 0 || feof(f));
    fclose(f);
    unlink(path);
    return text != NULL ? text : strdup("");
}

/* Characters (code points) of the longest line of text. */
static size_t
widest_line(const char *text)
{
    size_t widest = 0, w = 0;

    for (; *text != '\0'; text++) {
        if (*text == '\n') {
            widest = w > widest ? w : widest;
            w = 0;
        } else if (((unsigned char) *text & 0xC0) != 0x80) {
            w++;
        }
    }
    return w > widest ? w : widest;
}

static void
tables_fit_100_columns(void **state)
{
    static const char *const columns[] = {"id", "name", "capacity.cores", NULL};
    char longname[300];
    json_t *list;
    char *text;

    (void) state;
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    list = json_pack("{s:[{s:s, s:s, s:{s:i}}, {s:s, s:s, s:n}]}", "value", "id",
                     "0b140f8e-063b-49c6-856a-cb049ffdecce", "name", longname, "capacity", "cores", 8, "id",
                     "1", "name", "é-short", "capacity");
    assert_non_null(list);
    text = printed(WAPCTL_OUT_TABLE, list, columns);
    assert_true(widest_line(text) <= 100);
    assert_non_null(strstr(text, "…"));
    assert_non_null(strstr(text, "0b140f8e-063b-49c6-856a-cb049ffdecce")); /* ids are never cut here */
    assert_true(strncmp(text, "id", 2) == 0);
    free(text);
    text = printed(WAPCTL_OUT_TABLE, json_array_get(json_object_get(list, "value"), 0), NULL);
    assert_true(widest_line(text) <= 100);
    assert_non_null(strstr(text, "\nname "));
    free(text);
    json_decref(list);
}

static void
json_output_is_the_api_json(void **state)
{
    json_t *v = json_loads("{\"value\": [{\"b\": 1, \"a\": 2.7777777777777776e-07, \"c\": null, \"d\": \"é\"}]}",
                           0, NULL), *back;
    char *text;

    (void) state;
    assert_non_null(v);
    text = printed(WAPCTL_OUT_JSON, v, NULL);
    back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    assert_true(strstr(text, "\"b\"") < strstr(text, "\"a\"")); /* the API's order */
    json_decref(back);
    json_decref(v);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(option_names_are_kebab_case),
        cmocka_unit_test(options_take_the_api_types),
        cmocka_unit_test(an_empty_list_value_clears_the_list),
        cmocka_unit_test(filters_become_a_query),
        cmocka_unit_test(bad_arguments_are_usage_errors),
        cmocka_unit_test(every_noun_has_verbs_or_runs_itself),
        cmocka_unit_test(tables_fit_100_columns),
        cmocka_unit_test(json_output_is_the_api_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
