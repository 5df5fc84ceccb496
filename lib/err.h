/*
 * err.h: the one error table of wapd.
 *
 * Every failure that can reach a caller is an err_t: a code from ERR_CODE_MAP, a whole-sentence message and,
 * when one field is at fault, its JSON path in `target`. The table maps each code to the API's code string and
 * HTTP status, so api/ turns any err_t into a response in one place. lib/ functions take `err_t *err` last
 * and set it once, where the failure is seen; an out-param is written only on success.
 * Messages never carry tokens, secrets or SQL.
 */
#ifndef WAPD_ERR_H
#define WAPD_ERR_H

#include <stddef.h>

/* X(enum suffix, API code string, HTTP status) */
#define ERR_CODE_MAP(X)                                                                            \
    X(NONE, "None", 200)                                                                           \
    X(INVALID_JSON, "InvalidJson", 400)                                                            \
    X(INVALID_REQUEST, "InvalidRequest", 400)                                                      \
    X(UNAUTHORIZED, "Unauthorized", 401)                                                           \
    X(FORBIDDEN, "Forbidden", 403)                                                                 \
    X(CHECKPOINTS_NOT_ALLOWED, "CheckpointsNotAllowed", 403)                                       \
    X(NOT_FOUND, "NotFound", 404)                                                                  \
    X(NO_CHECKPOINT, "NoCheckpoint", 404)                                                          \
    X(METHOD_NOT_ALLOWED, "MethodNotAllowed", 405)                                                 \
    X(CONFLICT, "Conflict", 409)                                                                   \
    X(OPERATION_IN_PROGRESS, "OperationInProgress", 409)                                           \
    X(INVALID_POWER_STATE, "InvalidPowerState", 409)                                               \
    X(QUOTA_EXCEEDED, "QuotaExceeded", 409)                                                        \
    X(NO_CAPACITY, "NoCapacity", 409)                                                              \
    X(SUBSCRIPTION_SUSPENDED, "SubscriptionSuspended", 409)                                        \
    X(PRECONDITION_FAILED, "PreconditionFailed", 412)                                              \
    X(PAYLOAD_TOO_LARGE, "PayloadTooLarge", 413)                                                   \
    X(URI_TOO_LONG, "UriTooLong", 414)                                                             \
    X(UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", 415)                                         \
    X(HEADERS_TOO_LARGE, "RequestHeaderFieldsTooLarge", 431)                                       \
    X(TOO_MANY_REQUESTS, "TooManyRequests", 429)                                                   \
    X(INTERNAL, "InternalError", 500)                                                              \
    X(NOT_IMPLEMENTED, "NotImplemented", 501)                                                      \
    X(HTTP_VERSION_NOT_SUPPORTED, "HttpVersionNotSupported", 505)                                  \
    X(HOST_FAILED, "HostOperationFailed", 502)                                                     \
    X(HOST_UNREACHABLE, "HostUnreachable", 503)                                                    \
    X(INSUFFICIENT_STORAGE, "InsufficientStorage", 503)                                            \
    X(UNAVAILABLE, "ServiceUnavailable", 503)

typedef enum {
#define ERR_ENUM_(name, str, status) ERR_##name,
    ERR_CODE_MAP(ERR_ENUM_)
#undef ERR_ENUM_
        ERR__COUNT
} err_code_t;

#define ERR_MESSAGE_MAX 256
#define ERR_TARGET_MAX 128

typedef struct {
    err_code_t code;
    char message[ERR_MESSAGE_MAX];
    char target[ERR_TARGET_MAX]; /* empty when no single field is at fault */
} err_t;

/* Sets *err (when err is not NULL) unless it already holds an error: the first report wins. Returns -1 so
 * that callers can write `return err_set(...)`. */
int err_set(err_t *err, err_code_t code, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_clear(err_t *err);
const char *err_code_name(err_code_t code);
int err_http_status(err_code_t code);

#endif
