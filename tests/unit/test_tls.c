/*
 * test_tls.c: the listeners' certificate (api/http/tls.c): a pair is loaded only when both files are PEM and
 * the key belongs to the certificate; a reload publishes a good new pair to the handshake callback and keeps
 * the old one on any fault; an unchanged pair makes no new generation. The handshake callback is called as
 * GnuTLS would, through the options handed to libmicrohttpd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "../../api/http/tls.h"

/* Two self-signed P-256 pairs, CN=unit1 and CN=unit2. */
static const char CERT1[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBeDCCAR2gAwIBAgIUL0UJF412RwaBsvy+jfa+6gjLWx8wCgYIKoZIzj0EAwIw\n"
    "EDEOMAwGA1UEAwwFdW5pdDEwIBcNMjYxMjA1MTAyNTMzWhgPMjEyNjExMTExMDI1\n"
    "MzNaMBAxDjAMBgNVBAMMBXVuaXQxMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
    "o1c8jKO8gqo4a/ee+EETX6ftioljb90ondNFUrY0qfbIRYQAj1Jpyg4WF1ZS83Em\n"
    "8/moyD6xBLwAIk9kp/tbW6NTMFEwHQYDVR0OBBYEFLEyxzsISHPjsKaLjcXiihtn\n"
    "SvWsMB8GA1UdIwQYMBaAFLEyxzsISHPjsKaLjcXiihtnSvWsMA8GA1UdEwEB/wQF\n"
    "MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAKIveU6axi1PaAPRvmJ3JBIwjLJc8tl6\n"
    "MPWDTnGnH4NCAiEAumkO/TefTbGMfRNAUQtUA2tzxp7g785uVAxYMcgoT7c=\n"
    "-----END CERTIFICATE-----\n";
static const char KEY1[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqfZYQ+EmyNbeVpk0\n"
    "k++mRycuOSdMxKOUQhSAZbCsf7+hRANCAASjVzyMo7yCqjhr9574QRNfp+2KiWNv\n"
    "3Sid00VStjSp9shFhACPUmnKDhYXVlLzcSbz+ajIPrEEvAAiT2Sn+1tb\n"
    "-----END PRIVATE KEY-----\n";
static const char CERT2[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBeDCCAR2gAwIBAgIUIqubRqrKl5Rst0lCIU7Ykm3YixcwCgYIKoZIzj0EAwIw\n"
    "EDEOMAwGA1UEAwwFdW5pdDIwIBcNMjYxMjA1MTAyNTMzWhgPMjEyNjExMTExMDI1\n"
    "MzNaMBAxDjAMBgNVBAMMBXVuaXQyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
    "xPAWNUAWjtGhDbLImyx1CGH2VaHsVK1ywHPHMwXggEmFUOMeGozqaAgyxJxf2zQU\n"
    "27/RKOgpwci8wv8iSpjcwKNTMFEwHQYDVR0OBBYEFMKPgdQC+n6c0L8oc7VxuJ1E\n"
    "pQ2QMB8GA1UdIwQYMBaAFMKPgdQC+n6c0L8oc7VxuJ1EpQ2QMA8GA1UdEwEB/wQF\n"
    "MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAM7aysO7B9kDKyIkOeZh363tOz8dARf4\n"
    "wBJJlHjTsYjtAiEA3Q4v8VcUuITcl2PG5MJNVeWEIclIBrZgai0jaOH8bRc=\n"
    "-----END CERTIFICATE-----\n";
static const char KEY2[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFhuVKXcMjMAbgf9G\n"
    "qqYL9Y2qouZ9t7bmRyDfJvwe3e+hRANCAATE8BY1QBaO0aENssibLHUIYfZVoexU\n"
    "rXLAc8czBeCASYVQ4x4ajOpoCDLEnF/bNBTbv9Eo6CnByLzC/yJKmNzA\n"
    "-----END PRIVATE KEY-----\n";

typedef struct {
    char dir[64];
    char cert[96];
    char key[96];
} files_t;

static void
put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
    files_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/wapd-unit-tls-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
    put(f->cert, CERT1);
    put(f->key, KEY1);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    files_t *f = *state;

    unlink(f->cert);
    unlink(f->key);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The CN of the certificate a handshake would be given now, as GnuTLS asks libmicrohttpd's callback. */
static void
presented_cn(const api_tls_t *tls, char *cn, size_t n)
{
    struct MHD_OptionItem opts[API_TLS_OPTIONS];
    gnutls_certificate_retrieve_function2 *retrieve;
    gnutls_pcert_st *chain = NULL;
    unsigned int len = 0;
    gnutls_privkey_t key = NULL;
    gnutls_x509_crt_t crt;

    api_tls__options(tls, opts);
    assert_int_equal(opts[0].option, MHD_OPTION_HTTPS_CERT_CALLBACK);
    retrieve = (gnutls_certificate_retrieve_function2 *) (uintptr_t) opts[0].ptr_value;
    assert_int_equal(retrieve(NULL, NULL, 0, NULL, 0, &chain, &len, &key), 0);
    assert_int_equal(len, 1);
    assert_non_null(key);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &chain[0].cert, GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &n), 0);
    gnutls_x509_crt_deinit(crt);
}

static void
options_name_the_callback_and_tls_12_or_later(void **state)
{
    files_t *f = *state;
    struct MHD_OptionItem opts[API_TLS_OPTIONS];
    char msg[256];
    api_tls_t *tls;

    api_tls__options(NULL, opts); /* plain HTTP: nothing but the end */
    assert_int_equal(opts[0].option, MHD_OPTION_END);
    tls = api_tls_new(f->cert, f->key, msg, sizeof(msg));
    assert_non_null(tls);
    api_tls__options(tls, opts);
    assert_int_equal(opts[0].option, MHD_OPTION_HTTPS_CERT_CALLBACK);
    assert_int_equal(opts[1].option, MHD_OPTION_HTTPS_PRIORITIES);
    assert_string_equal(opts[1].ptr_value, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
    assert_int_equal(opts[2].option, MHD_OPTION_END);
    api_tls_free(tls);
}

static void
new_refuses_bad_files_naming_them(void **state)
{
    files_t *f = *state;
    char msg[512], missing[128];

    snprintf(missing, sizeof(missing), "%s/missing.pem", f->dir);
    assert_null(api_tls_new(missing, f->key, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "missing.pem"));
    assert_null(api_tls_new(f->cert, missing, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "missing.pem"));
    put(f->cert, "not PEM\n");
    assert_null(api_tls_new(f->cert, f->key, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "cert.pem"));
    put(f->cert, CERT1);
    put(f->key, CERT1); /* a certificate where the key should be */
    assert_null(api_tls_new(f->cert, f->key, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "key.pem"));
    put(f->key, KEY2); /* the key of another certificate */
    assert_null(api_tls_new(f->cert, f->key, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "does not belong"));
}

static void
reload_swaps_a_good_pair_and_keeps_the_old_on_a_bad_one(void **state)
{
    files_t *f = *state;
    char msg[256], cn[64];
    api_tls_t *tls = api_tls_new(f->cert, f->key, msg, sizeof(msg));

    assert_non_null(tls);
    presented_cn(tls, cn, sizeof(cn));
    assert_string_equal(cn, "unit1");
    /* Unchanged files: nothing new. */
    assert_int_equal(api_tls_reload(tls), 0);
    assert_int_equal(api_tls__generations(tls), 1);
    /* A new pair: presented from now on. */
    put(f->cert, CERT2);
    put(f->key, KEY2);
    assert_int_equal(api_tls_reload(tls), 0);
    assert_int_equal(api_tls__generations(tls), 2);
    presented_cn(tls, cn, sizeof(cn));
    assert_string_equal(cn, "unit2");
    /* Half a pair (the new certificate, the old key), a broken key, a missing file: the pair stays. */
    put(f->cert, CERT1);
    assert_int_equal(api_tls_reload(tls), -1);
    put(f->cert, CERT2);
    put(f->key, "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n");
    assert_int_equal(api_tls_reload(tls), -1);
    unlink(f->key);
    assert_int_equal(api_tls_reload(tls), -1);
    assert_int_equal(api_tls__generations(tls), 2);
    presented_cn(tls, cn, sizeof(cn));
    assert_string_equal(cn, "unit2");
    api_tls_free(tls);
    api_tls_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(options_name_the_callback_and_tls_12_or_later, setup, teardown),
        cmocka_unit_test_setup_teardown(new_refuses_bad_files_naming_them, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_swaps_a_good_pair_and_keeps_the_old_on_a_bad_one, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
