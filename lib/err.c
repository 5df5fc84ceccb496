/*
 * err.c: err_t helpers and the lookups generated from ERR_CODE_MAP.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[] = {
#define ERR_NAME_(name, str, status) str,
    ERR_CODE_MAP(ERR_NAME_)
#undef ERR_NAME_
};

static const int err_statuses[] = {
#define ERR_STATUS_(name, str, status) status,
    ERR_CODE_MAP(ERR_STATUS_)
#undef ERR_STATUS_
};

int
err_set(err_t *err, err_code_t code, const char *target, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err->code != ERR_NONE)
        return -1;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    snprintf(err->target, sizeof(err->target), "%s", target ? target : "");
    return -1;
}

void
err_clear(err_t *err)
{
    if (err == NULL)
        return;
    err->code = ERR_NONE;
    err->message[0] = '\0';
    err->target[0] = '\0';
}

const char *
err_code_name(err_code_t code)
{
    if ((unsigned) code >= ERR__COUNT)
        return "InternalError";
    return err_names[code];
}

int
err_http_status(err_code_t code)
{
    if ((unsigned) code >= ERR__COUNT)
        return 500;
    return err_statuses[code];
}
