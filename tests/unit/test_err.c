/* Unit tests of lib/err: the one error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/err.h"

static void
table_maps_codes_to_names_and_statuses(void **state)
{
    (void) state;
    assert_string_equal(err_code_name(ERR_INVALID_REQUEST), "InvalidRequest");
    assert_int_equal(err_http_status(ERR_INVALID_REQUEST), 400);
    assert_string_equal(err_code_name(ERR_NOT_FOUND), "NotFound");
    assert_int_equal(err_http_status(ERR_NOT_FOUND), 404);
    assert_int_equal(err_http_status(ERR_QUOTA_EXCEEDED), 409);
    assert_int_equal(err_http_status(ERR_PRECONDITION_FAILED), 412);
    assert_int_equal(err_http_status(ERR_PAYLOAD_TOO_LARGE), 413);
    assert_int_equal(err_http_status(ERR_UNSUPPORTED_MEDIA_TYPE), 415);
    assert_int_equal(err_http_status(ERR_CHECKPOINTS_NOT_ALLOWED), 403);
    assert_string_equal(err_code_name(ERR_HOST_UNREACHABLE), "HostUnreachable");
    assert_int_equal(err_http_status(ERR_HOST_UNREACHABLE), 503);
    assert_string_equal(err_code_name((err_code_t) 999), "InternalError");
    assert_int_equal(err_http_status((err_code_t) 999), 500);
}

static void
first_report_wins(void **state)
{
    err_t e = {0};

    (void) state;
    assert_int_equal(err_set(&e, ERR_CONFLICT, "name", "First %d.", 1), -1);
    err_set(&e, ERR_INTERNAL, NULL, "Second.");
    assert_int_equal(e.code, ERR_CONFLICT);
    assert_string_equal(e.message, "First 1.");
    assert_string_equal(e.target, "name");
    err_clear(&e);
    assert_int_equal(e.code, ERR_NONE);
    assert_int_equal(err_set(NULL, ERR_INTERNAL, NULL, "ignored"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_maps_codes_to_names_and_statuses),
        cmocka_unit_test(first_report_wins),
    };

    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
