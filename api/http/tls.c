/*
 * tls.c: the certificate and private key both listeners serve over HTTPS, and their reload on SIGHUP.
 *
 * libmicrohttpd hands each TLS handshake to GnuTLS, which asks tls_retrieve (installed through
 * MHD_OPTION_HTTPS_CERT_CALLBACK) for the certificate chain and key to present. The loaded pairs form a list
 * of generations, newest first; `current` (read atomically, without a lock, by the handshakes) points at the
 * newest. A reload builds a whole new generation from both files, checks that the key belongs to the chain's
 * first certificate and only then publishes it, so a bad pair never replaces a good one. A generation is
 * never freed while the servers run (a handshake in flight may still hold its chain and key); all of them are
 * freed by api_tls_free, after every server is stopped. Reloading files whose bytes are unchanged makes no new
 * generation, so repeated SIGHUPs do not grow the list.
 *
 * GnuTLS's retrieve callback carries no user pointer, so one api_tls_t serves the process: `serving` is set
 * by api_tls_new and cleared by api_tls_free, and at most one exists at a time.
 */
#include "../internal.h"
#include "tls.h"
#include "../../lib/log.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* Certificates in one chain (the server's and its intermediates). */
#define TLS_CHAIN_MAX 16
/* A PEM file larger than this is refused. */
#define TLS_FILE_MAX (1024 * 1024)

typedef struct tls_gen {
    struct tls_gen *older;
    gnutls_pcert_st chain[TLS_CHAIN_MAX];
    unsigned int chain_len;
    gnutls_privkey_t key;
    char digest[UTIL_SHA256_HEX_LEN + 1]; /* of both files' bytes */
    char subject[256];
    char not_after[UTIL_TIME_LEN + 1];
} tls_gen_t;

struct api_tls {
    char *cert_path;
    char *key_path;
    tls_gen_t *current; /* atomic; the head of the generations, newest first */
};

static api_tls_t *serving;

static void
gen_free(tls_gen_t *g)
{
    unsigned int i;

    if (g == NULL)
        return;
    for (i = 0; i < g->chain_len; i++)
        gnutls_pcert_deinit(&g->chain[i]);
    if (g->key)
        gnutls_privkey_deinit(g->key);
    free(g);
}

/* Reads a whole file into a datum (data owned by the caller, NUL-terminated). */
static int
read_file(const char *path, gnutls_datum_t *out, char *msg, size_t msgn)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = -1;

    if (f == NULL) {
        snprintf(msg, msgn, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(TLS_FILE_MAX + 1);
    if (buf == NULL) {
        snprintf(msg, msgn, "cannot read %s: out of memory", path);
        goto cleanup;
    }
    n = fread(buf, 1, TLS_FILE_MAX + 1, f);
    if (ferror(f) || n > TLS_FILE_MAX) {
        snprintf(msg, msgn, "cannot read %s: %s", path, ferror(f) ? strerror(errno) : "larger than 1 MiB");
        goto cleanup;
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned int) n;
    buf = NULL;
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

/* 0 when key is the private half of the public key in cert. */
static int
key_matches(gnutls_pcert_st *cert, gnutls_privkey_t key)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    int rc = -1;

    if (gnutls_pubkey_init(&pub) < 0)
        return -1;
    if (gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 &&
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) == 0 &&
        gnutls_pubkey_export2(cert->pubkey, GNUTLS_X509_FMT_DER, &b) == 0 && a.size == b.size &&
        memcmp(a.data, b.data, a.size) == 0)
        rc = 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(pub);
    return rc;
}

/* The subject and expiry of the chain's first certificate, for the log. */
static void
gen_describe(tls_gen_t *g)
{
    gnutls_x509_crt_t crt;
    size_t n = sizeof(g->subject);
    time_t end;

    g->subject[0] = '\0';
    g->not_after[0] = '\0';
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, &g->chain[0].cert, GNUTLS_X509_FMT_DER) == 0) {
        if (gnutls_x509_crt_get_dn(crt, g->subject, &n) < 0)
            g->subject[0] = '\0';
        end = gnutls_x509_crt_get_expiration_time(crt);
        if (end != (time_t) -1)
            util_time_format((int64_t) end * 1000, g->not_after);
    }
    gnutls_x509_crt_deinit(crt);
}

/* Builds a generation from the PEM bytes of both files; NULL with a message naming the file at fault. */
static tls_gen_t *
gen_new(const api_tls_t *tls, gnutls_datum_t *cert, gnutls_datum_t *key, char *msg, size_t msgn)
{
    tls_gen_t *g = calloc(1, sizeof(*g));
    int rc;

    if (g == NULL) {
        snprintf(msg, msgn, "out of memory loading %s", tls->cert_path);
        return NULL;
    }
    g->chain_len = TLS_CHAIN_MAX;
    rc = gnutls_pcert_list_import_x509_raw(g->chain, &g->chain_len, cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || g->chain_len == 0) {
        g->chain_len = 0;
        snprintf(msg, msgn, "%s holds no usable PEM certificate: %s", tls->cert_path,
                 rc < 0 ? gnutls_strerror(rc) : "none found");
        goto fail;
    }
    if ((rc = gnutls_privkey_init(&g->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(g->key, key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(msg, msgn, "%s holds no usable PEM private key: %s", tls->key_path, gnutls_strerror(rc));
        goto fail;
    }
    if (key_matches(&g->chain[0], g->key) != 0) {
        snprintf(msg, msgn, "the key in %s does not belong to the certificate in %s", tls->key_path,
                 tls->cert_path);
        goto fail;
    }
    gen_describe(g);
    return g;
fail:
    gen_free(g);
    return NULL;
}

/* Loads both files as a new generation and makes it current. Returns 1 when it was published, 0 when the
 * files are unchanged (the current one stays), -1 with a message when they cannot be used. Only the thread
 * that owns tls (start, then the main loop) calls it. */
static int
load(api_tls_t *tls, char *msg, size_t msgn)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    char digest[UTIL_SHA256_HEX_LEN + 1];
    unsigned char *both = NULL;
    tls_gen_t *g;
    int rc = -1;

    assert(tls != NULL && msg != NULL);
    if (read_file(tls->cert_path, &cert, msg, msgn) || read_file(tls->key_path, &key, msg, msgn))
        goto cleanup;
    both = malloc((size_t) cert.size + key.size + 1);
    if (both == NULL) {
        snprintf(msg, msgn, "out of memory loading %s", tls->cert_path);
        goto cleanup;
    }
    memcpy(both, cert.data, cert.size);
    memcpy(both + cert.size, key.data, key.size);
    util_sha256_hex(both, (size_t) cert.size + key.size, digest);
    if (tls->current != NULL && strcmp(tls->current->digest, digest) == 0) {
        rc = 0;
        goto cleanup;
    }
    g = gen_new(tls, &cert, &key, msg, msgn);
    if (g == NULL)
        goto cleanup;
    memcpy(g->digest, digest, sizeof(digest));
    g->older = tls->current;
    __atomic_store_n(&tls->current, g, __ATOMIC_RELEASE);
    rc = 1;
cleanup:
    free(both);
    if (key.data) {
        memset(key.data, 0, key.size); /* the private key does not linger in freed memory */
        free(key.data);
    }
    free(cert.data);
    return rc;
}

/* GnuTLS asks, in each handshake, what to present: the current generation. Its chain and key stay owned by
 * the generation, which outlives the handshake (see the top of the file). */
static int
tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
             const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
             unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    api_tls_t *tls = __atomic_load_n(&serving, __ATOMIC_ACQUIRE);
    tls_gen_t *g = tls ? __atomic_load_n(&tls->current, __ATOMIC_ACQUIRE) : NULL;

    (void) session;
    (void) req_ca_dn;
    (void) nreqs;
    (void) pk_algos;
    (void) pk_algos_length;
    if (g == NULL)
        return -1;
    *pcert = g->chain;
    *pcert_length = g->chain_len;
    *pkey = g->key;
    return 0;
}

api_tls_t *
api_tls_new(const char *cert_path, const char *key_path, char *msg, size_t msgn)
{
    api_tls_t *tls;

    assert(cert_path != NULL && key_path != NULL && msg != NULL && msgn > 0);
    assert(serving == NULL); /* one per process: see the top of the file */
    tls = calloc(1, sizeof(*tls));
    if (tls == NULL || (tls->cert_path = strdup(cert_path)) == NULL ||
        (tls->key_path = strdup(key_path)) == NULL) {
        snprintf(msg, msgn, "out of memory loading %s", cert_path);
        api_tls_free(tls);
        return NULL;
    }
    if (load(tls, msg, msgn) < 0) {
        api_tls_free(tls);
        return NULL;
    }
    __atomic_store_n(&serving, tls, __ATOMIC_RELEASE);
    return tls;
}

int
api_tls_reload(api_tls_t *tls)
{
    char msg[1024];
    tls_gen_t *g;
    int rc;

    assert(tls != NULL);
    rc = load(tls, msg, sizeof(msg));
    if (rc < 0) {
        log_line("error", "tls certificate not reloaded: the one in use stays",
                json_pack("{s:s, s:s, s:s}", "cert", tls->cert_path, "key", tls->key_path, "detail", msg));
        return -1;
    }
    g = tls->current;
    log_line("info", "tls certificate reloaded",
            json_pack("{s:s, s:s, s:s, s:s, s:b}", "cert", tls->cert_path, "key", tls->key_path, "subject",
                      g->subject, "notAfter", g->not_after, "changed", rc == 1));
    return 0;
}

void
api_tls__options(const api_tls_t *tls, struct MHD_OptionItem opts[API_TLS_OPTIONS])
{
    int i = 0;

    assert(opts != NULL);
    if (tls != NULL) {
        assert(__atomic_load_n(&serving, __ATOMIC_ACQUIRE) == tls);
        opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                            (void *) (uintptr_t) tls_retrieve};
        opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) API_TLS_PRIORITIES};
    }
    opts[i] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

int
api_tls__generations(const api_tls_t *tls)
{
    const tls_gen_t *g;
    int n = 0;

    assert(tls != NULL);
    for (g = tls->current; g != NULL; g = g->older)
        n++;
    return n;
}

void
api_tls_free(api_tls_t *tls)
{
    tls_gen_t *g, *older;

    if (tls == NULL)
        return;
    if (__atomic_load_n(&serving, __ATOMIC_ACQUIRE) == tls)
        __atomic_store_n(&serving, NULL, __ATOMIC_RELEASE);
    for (g = tls->current; g != NULL; g = older) {
        older = g->older;
        gen_free(g);
    }
    free(tls->cert_path);
    free(tls->key_path);
    free(tls);
}
