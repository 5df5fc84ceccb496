/* IP address management (lib/vm/ipam.c): prefixes and their usable range, the lowest free address,
 * addresses given back reused first, a full network answered 409, and a claim that loses its address to
 * another transaction choosing the next one. Runs in the VM world, each test with its own network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/vm/ipam.h"

/* A network of the world's subscription with prefix (new reference). */
static json_t *
new_network(world_t *w, const char *prefix)
{
    network_create_req_t req = {.name = "n", .address_prefix = prefix};
    err_t err = {0};
    json_t *net = network_create(w->f->st, world_ctx(w), &req, &err);

    if (net == NULL)
        fail_msg("network create failed: %s", err.message);
    return net;
}

/* Takes an address of net for vm_id in a transaction of its own: its text, or "" with *err on failure. */
static void
take(world_t *w, const json_t *net, const char *vm_id, char out[IPAM_TEXT_LEN], err_t *err)
{
    store_t *st = w->f->st;
    int64_t ip;

    out[0] = '\0';
    assert_int_equal(store_tx_begin(st, err), 0);
    if (ipam_take(st, id_of(net), json_string_value(json_object_get(net, "addressPrefix")), vm_id,
                  &ip, err) == 0) {
        assert_int_equal(store_tx_commit(st, err), 0);
        ipam_format(ip, out);
    } else {
        store_tx_rollback(st);
    }
}

/* Takes an address and checks it is expect. */
static void
take_is(world_t *w, const json_t *net, const char *vm_id, const char *expect)
{
    char text[IPAM_TEXT_LEN];
    err_t err = {0};

    take(w, net, vm_id, text, &err);
    if (strcmp(text, expect) != 0)
        fail_msg("%s took \"%s\" (%s), expected %s", vm_id, text, err.message, expect);
}

static void
prefix_gives_the_usable_range(void **state)
{
    int64_t first = 0, last = 0;
    err_t err = {0};
    char text[IPAM_TEXT_LEN];

    (void) state;
    /* A /29 has 8 addresses: the first four and the last are reserved, three are usable. */
    assert_int_equal(ipam_parse_prefix("10.1.0.8/29", &first, &last, &err), 0);
    ipam_format(first, text);
    assert_string_equal(text, "10.1.0.12");
    ipam_format(last, text);
    assert_string_equal(text, "10.1.0.14");
    assert_int_equal(ipam_parse_prefix("10.0.0.0/8", &first, &last, &err), 0);
    assert_int_equal(last - first + 1, (1 << 24) - 5);
    /* Outside /8 to /29, host bits set, not an address: 400 on addressPrefix. */
    assert_int_equal(ipam_parse_prefix("10.1.0.0/30", &first, &last, &err), -1);
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "addressPrefix");
    err_clear(&err);
    assert_int_equal(ipam_parse_prefix("10.0.0.0/7", &first, &last, &err), -1);
    err_clear(&err);
    assert_int_equal(ipam_parse_prefix("10.1.0.4/29", &first, &last, &err), -1);
    assert_string_equal(err.message, "addressPrefix has host bits set; use the network address.");
    err_clear(&err);
    assert_int_equal(ipam_parse_prefix("10.1.0/24", &first, &last, &err), -1);
    err_clear(&err);
    assert_int_equal(ipam_parse_prefix("10.1.0.0", &first, &last, &err), -1);
    err_clear(&err);
}

static void
lowest_free_fills_holes_first(void **state)
{
    const int64_t used[] = {10, 11, 13, 14, 20};

    (void) state;
    assert_int_equal(ipam_lowest_free(NULL, 0, 10, 12), 10);
    assert_int_equal(ipam_lowest_free(used, 5, 10, 30), 12);
    assert_int_equal(ipam_lowest_free(used, 5, 13, 30), 15);
    assert_int_equal(ipam_lowest_free(used, 2, 10, 11), -1);
    assert_int_equal(ipam_lowest_free(used, 5, 20, 20), -1);
    assert_int_equal(ipam_lowest_free(used, 5, 21, 30), 21);
    /* Addresses in use below the start do not count. */
    assert_int_equal(ipam_lowest_free(used, 5, 12, 30), 12);
}

static void
lowest_free_taken_and_given_back(void **state)
{
    world_t *w = *state;
    json_t *net = new_network(w, "10.2.0.0/24");
    err_t err = {0};

    take_is(w, net, "vm-a", "10.2.0.4");
    take_is(w, net, "vm-b", "10.2.0.5");
    take_is(w, net, "vm-c", "10.2.0.6");
    take_is(w, net, "vm-b", "10.2.0.7"); /* a second NIC of vm-b */
    /* vm-b gives back both: the lowest hole is taken first, then the next. */
    assert_int_equal(store_ip_release_vm(w->f->st, "vm-b", &err), 0);
    take_is(w, net, "vm-d", "10.2.0.5");
    take_is(w, net, "vm-e", "10.2.0.7");
    take_is(w, net, "vm-f", "10.2.0.8");
    assert_int_equal(store_ip_count(w->f->st, id_of(net), &err), 5);
    json_decref(net);
}

static void
full_network_is_409(void **state)
{
    world_t *w = *state;
    json_t *net = new_network(w, "10.3.0.0/29"), *other = new_network(w, "10.3.0.8/29");
    char text[IPAM_TEXT_LEN];
    err_t err = {0};

    take_is(w, net, "vm-a", "10.3.0.4");
    take_is(w, net, "vm-b", "10.3.0.5");
    take_is(w, net, "vm-c", "10.3.0.6");
    take(w, net, "vm-d", text, &err);
    assert_string_equal(text, "");
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "networkId");
    assert_string_equal(err.message, "The network has no free address left.");
    err_clear(&err);
    assert_int_equal(store_ip_count(w->f->st, id_of(net), &err), 3);
    /* Another network has its own addresses. */
    take_is(w, other, "vm-d", "10.3.0.12");
    /* Once one is given back, the full network has one again. */
    assert_int_equal(store_ip_release_vm(w->f->st, "vm-c", &err), 0);
    take_is(w, net, "vm-d", "10.3.0.6");
    json_decref(other);
    json_decref(net);
}

/* The race: another VM claims the address chosen, between the choice and the claim. */
static int races;

static void
claim_first(store_t *st, const char *network_id, int64_t ip)
{
    err_t err = {0};

    if (races == 0)
        return;
    races--;
    assert_int_equal(store_ip_claim(st, network_id, "vm-rival", ip, &err), 1);
}

static void
claim_race_takes_the_next(void **state)
{
    world_t *w = *state;
    json_t *net = new_network(w, "10.4.0.0/29");
    char text[IPAM_TEXT_LEN];
    int64_t *used = NULL;
    size_t n = 0;
    err_t err = {0};

    take_is(w, net, "vm-a", "10.4.0.4");
    ipam__before_claim = claim_first;
    races = 1;
    take_is(w, net, "vm-b", "10.4.0.6"); /* .5 went to the rival */
    assert_int_equal(store_ip_used(w->f->st, id_of(net), &used, &n, &err), 0);
    assert_int_equal(n, 3);
    free(used);
    /* A race for the last free address leaves the network full: 409. */
    assert_int_equal(store_ip_release_vm(w->f->st, "vm-b", &err), 0);
    races = 1;
    take(w, net, "vm-c", text, &err);
    ipam__before_claim = NULL;
    assert_string_equal(text, "");
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.message, "The network has no free address left.");
    err_clear(&err);
    json_decref(net);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prefix_gives_the_usable_range),
        cmocka_unit_test(lowest_free_fills_holes_first),
        cmocka_unit_test_setup_teardown(lowest_free_taken_and_given_back, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(full_network_is_409, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(claim_race_takes_the_next, world_setup, world_teardown),
    };

    return cmocka_run_group_tests_name("IP address management", tests, NULL, NULL);
}
