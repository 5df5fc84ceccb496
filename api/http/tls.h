/*
 * tls.h: what listener.c needs from tls.c to start a listener over HTTPS (private to api/http).
 *
 * The options name the certificate callback of the one api_tls_t that serves the process and the protocol
 * versions allowed (TLS 1.2 and 1.3 only); they are valid as long as that api_tls_t lives.
 */
#ifndef WAPD_API_HTTP_TLS_H
#define WAPD_API_HTTP_TLS_H

#include <microhttpd.h>

#include "../api.h"

/* GnuTLS priorities: its defaults, with every protocol version but TLS 1.3 and 1.2 removed. */
#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Entries api_tls__options writes, MHD_OPTION_END included. */
#define API_TLS_OPTIONS 3

/* Fills opts, for MHD_OPTION_ARRAY, with the listener's TLS options; tls NULL (plain HTTP): only the end.
 * tls is borrowed and must be the api_tls_t that serves (made by api_tls_new, not yet freed). */
void api_tls__options(const api_tls_t *tls, struct MHD_OptionItem opts[API_TLS_OPTIONS]);
/* For tests: how many certificate generations tls holds (the loaded pairs that differed). */
int api_tls__generations(const api_tls_t *tls);

#endif
