/*
 * fuzz_body.c: fuzz target for the parsers that read request input: strict JSON loading (jansson with
 * duplicate-key rejection), the body shape checker (api/validate.c), RFC 3339 times, base64url cursors and
 * strict integers. Any input must be accepted or rejected cleanly: no crash, no leak, no undefined behaviour.
 *
 * Built with libFuzzer by `make fuzz`; its corpus (tests/fuzz/body) is replayed, with gcc and under
 * ASan+UBSan, by `make unit` and `make unit-asan` through tests/fuzz/replay.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/internal.h"

static const char *const kinds[] = {"sim", "http", "libvirt", NULL};
static const jv_field_t capacity[] = {
    {"cores", JV_INT, JV_REQUIRED, 1, 1000000, NULL, NULL},
    {"memoryMB", JV_INT, JV_REQUIRED, 1, 1000000000000LL, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t agent[] = {
    {"kind", JV_STRING, JV_REQUIRED, 1, 16, kinds, NULL},
    {"uri", JV_STRING, JV_NULLABLE, 1, 1024, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"email", JV_STRING, JV_EMAIL, 3, 254, NULL, NULL},
    {"cloudId", JV_STRING, JV_UUID, 0, 0, NULL, NULL},
    {"agent", JV_OBJECT, 0, 0, 0, NULL, agent},
    {"capacity", JV_OBJECT, JV_NULLABLE, 0, 0, NULL, capacity},
    {"imageIds", JV_STRING_ARRAY, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},
    {"flag", JV_BOOL, 0, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    err_t err = {0};
    json_t *obj;
    char *text, out[256];
    int64_t n;

    obj = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (obj != NULL) {
        api_json_validate(obj, spec, false, &err);
        err_clear(&err);
        api_json_validate(obj, spec, true, &err);
        json_decref(obj);
    }
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    util_time_parse(text, &n);
    util_parse_int64(text, true, &n);
    util_b64url_decode(text, out, sizeof(out));
    free(text);
    return 0;
}
