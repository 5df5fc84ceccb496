/*
 * fuzz_wire.c: fuzz target for the wapd-agent protocol's decoders (lib/agent/wire*.c, lib/agent/types.c):
 * what an agent answers (the host, a VM list, a snapshot's size, the progress of a long operation, an error
 * body for any status) and the bodies an agent reads (VM spec, disk, resize, checkpoint, snapshot, copy,
 * import), plus the path and header values (operation id, ids, lun, disk segment, Request-Timeout-Ms).
 *
 * Input: the first byte picks the decoder, the next two the HTTP status (an error's) or the lun (a disk's),
 * the rest is the JSON body (or the text). Beyond no crash, no leak and no undefined behaviour, wire.h's
 * promise is checked: the encoder takes whatever the decoder accepts, and its output decodes again to the
 * same JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/agent.h"
#include "../../lib/agent/wire.h"

static void
fail(const char *what, const json_t *in)
{
    char *text = in ? json_dumps(in, JSON_COMPACT) : NULL;

    fprintf(stderr, "fuzz wire: %s: %s\n", what, text ? text : "(none)");
    free(text);
    abort();
}

/* The encoding of a decoded value must decode again and encode the same. */
static void
same(const json_t *in, json_t *first, json_t *second, int rc2)
{
    if (first == NULL)
        fail("the encoder refused what the decoder accepted", in);
    if (rc2 != 0 || second == NULL || !json_equal(first, second))
        fail("the encoding does not decode back to itself", in);
    json_decref(first);
    json_decref(second);
}

static void
decode(int which, const json_t *j, const char *text, int http)
{
    agent_err_t err = {0};
    json_t *e1 = NULL;
    int rc, a, b, lun;

    switch (which) {
    case 0: {
        agent_host_info_t h, h2;

        if (agent_wire_host_from_json(j, &h, &err) == 0) {
            e1 = agent_wire_host_to_json(&h);
            rc = agent_wire_host_from_json(e1, &h2, &err);
            same(j, e1, rc == 0 ? agent_wire_host_to_json(&h2) : NULL, rc);
        }
        break;
    }
    case 1: {
        int64_t gb, gb2;

        if (agent_wire_size_from_json(j, &gb, &err) == 0) {
            e1 = agent_wire_size_to_json(gb);
            rc = agent_wire_size_from_json(e1, &gb2, &err);
            same(j, e1, rc == 0 ? agent_wire_size_to_json(gb2) : NULL, rc);
        }
        break;
    }
    case 2: {
        agent_progress_t p, p2;

        if (agent_wire_progress_from_json(j, &p, &err) == 0) {
            e1 = json_pack("{s:o}", "progress", agent_wire_progress_json(&p));
            rc = agent_wire_progress_from_json(e1, &p2, &err);
            same(j, e1, rc == 0 ? json_pack("{s:o}", "progress", agent_wire_progress_json(&p2)) : NULL, rc);
        }
        break;
    }
    case 3: {
        agent_vm_info_t v, v2;

        if (agent_vm_info_from_json(j, &v) == 0) {
            e1 = agent_vm_info_to_json(&v);
            rc = agent_vm_info_from_json(e1, &v2);
            same(j, e1, rc == 0 ? agent_vm_info_to_json(&v2) : NULL, rc);
        }
        break;
    }
    case 4: { /* a VM list, read as the http agent reads GET /v1/vms */
        json_t *value = json_object_get(j, "value"), *item;
        agent_vm_info_t v;
        size_t i;

        json_array_foreach(value, i, item) if (agent_vm_info_from_json(item, &v) != 0) break;
        break;
    }
    case 5:
        if (agent_wire_error_from_http(http, j, &err) != -1 || err.message[0] == '\0')
            fail("an error answer read without a message", j);
        if (agent_wire_status_of_http(http) == AGENT_OK && (http < 200 || http > 299))
            fail("a failing status read as success", j);
        agent_wire_code_of_http(http);
        break;
    case 6: {
        agent_wire_spec_t *s = malloc(sizeof(*s)), *s2 = malloc(sizeof(*s2));

        if (s == NULL || s2 == NULL)
            abort();
        if (agent_wire_spec_from_json(j, s, &err) == 0) {
            e1 = agent_wire_spec_to_json(&s->spec);
            rc = agent_wire_spec_from_json(e1, s2, &err);
            same(j, e1, rc == 0 ? agent_wire_spec_to_json(&s2->spec) : NULL, rc);
        }
        free(s);
        free(s2);
        break;
    }
    case 7: {
        agent_wire_disk_t d, d2;

        lun = http % (AGENT_WIRE_LUN_MAX + 1); /* a lun of a path: agent_wire_lun_parse checked it */
        if (agent_wire_disk_from_json(j, lun, &d, &err) == 0) {
            e1 = agent_wire_disk_to_json(&d.disk);
            rc = agent_wire_disk_from_json(e1, lun, &d2, &err);
            same(j, e1, rc == 0 ? agent_wire_disk_to_json(&d2.disk) : NULL, rc);
        }
        break;
    }
    case 8:
        if (agent_wire_resize_from_json(j, &a, &b, &err) == 0) {
            int a2, b2;

            e1 = agent_wire_resize_to_json(a, b);
            rc = agent_wire_resize_from_json(e1, &a2, &b2, &err);
            same(j, e1, rc == 0 ? agent_wire_resize_to_json(a2, b2) : NULL, rc);
        }
        break;
    case 9: {
        char name[AGENT_NAME_MAX], name2[AGENT_NAME_MAX];

        if (agent_wire_checkpoint_from_json(j, name, &err) == 0) {
            e1 = agent_wire_checkpoint_to_json(name);
            rc = agent_wire_checkpoint_from_json(e1, name2, &err);
            same(j, e1, rc == 0 ? agent_wire_checkpoint_to_json(name2) : NULL, rc);
        }
        break;
    }
    case 10: {
        char id[AGENT_ID_MAX], id2[AGENT_ID_MAX];

        if (agent_wire_snapshot_from_json(j, id, &err) == 0) {
            e1 = agent_wire_snapshot_to_json(id);
            rc = agent_wire_snapshot_from_json(e1, id2, &err);
            same(j, e1, rc == 0 ? agent_wire_snapshot_to_json(id2) : NULL, rc);
        }
        break;
    }
    case 11: {
        agent_wire_copy_t c, c2;

        if (agent_wire_copy_from_json(j, &c, &err) == 0) {
            e1 = agent_wire_copy_to_json(&c.src);
            rc = agent_wire_copy_from_json(e1, &c2, &err);
            same(j, e1, rc == 0 ? agent_wire_copy_to_json(&c2.src) : NULL, rc);
        }
        break;
    }
    case 12: {
        agent_wire_import_t *m = malloc(sizeof(*m)), *m2 = malloc(sizeof(*m2));

        if (m == NULL || m2 == NULL)
            abort();
        if (agent_wire_import_from_json(j, m, &err) == 0) {
            e1 = agent_wire_import_to_json(&m->spec.spec, &m->src);
            rc = agent_wire_import_from_json(e1, m2, &err);
            same(j, e1, rc == 0 ? agent_wire_import_to_json(&m2->spec.spec, &m2->src) : NULL, rc);
        }
        free(m);
        free(m2);
        break;
    }
    default: { /* the texts of paths and headers */
        char seg[16];

        agent_wire_op_id_valid(text);
        agent_wire_path_id_valid(text);
        if (agent_wire_timeout_parse(text, &a) == 0 && (a < 1 || a > AGENT_WIRE_TIMEOUT_MAX_MS))
            fail("a timeout out of range accepted", NULL);
        if (agent_wire_lun_parse(text, &lun) == 0 && (lun < 0 || lun > AGENT_WIRE_LUN_MAX))
            fail("a lun out of range accepted", NULL);
        if (agent_wire_disk_parse(text, &lun) == 0) {
            agent_wire_disk_segment(lun, seg);
            if (agent_wire_disk_parse(seg, &b) != 0 || b != lun)
                fail("a disk segment does not read back", NULL);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *j = NULL;
    char *text;
    int which, http;

    if (size < 3)
        return 0;
    which = data[0] % 14;
    http = 100 + (data[1] << 8 | data[2]) % 500;
    if (which < 13) {
        j = json_loadb((const char *) data + 3, size - 3, JSON_REJECT_DUPLICATES, &jerr);
        if (j == NULL && which != 5)
            return 0;
    }
    text = strndup((const char *) data + 3, size - 3);
    if (text == NULL)
        abort();
    decode(which, j, text, http);
    json_decref(j);
    free(text);
    return 0;
}
