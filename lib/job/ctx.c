/*
 * ctx.c: what a job's steps read of the job they run in: its store, id, resource, step, status, parameters,
 * data and operation id (see job.h). The runner (runner.c) fills the context; these only read it, but for
 * job_ctx_data, which makes the job's data object on first use.
 */
#include "job_internal.h"

#include <assert.h>

store_t *
job_ctx_store(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return ctx->st;
}

const char *
job_ctx_id(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return job__str(ctx->rec, "id");
}

const char *
job_ctx_resource(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return job__str(ctx->rec, "resourceId");
}

int
job_ctx_step(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return ctx->step;
}

const char *
job_ctx_step_name(job_ctx_t *ctx)
{
    assert(ctx != NULL && ctx->step >= 0);
    return job__str(json_array_get(json_object_get(ctx->rec, "steps"), (size_t) ctx->step), "name");
}

const char *
job_ctx_status(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return job__str(ctx->rec, "status");
}

const json_t *
job_ctx_params(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return json_object_get(ctx->rec, "_params");
}

json_t *
job_ctx_data(job_ctx_t *ctx)
{
    json_t *d;

    assert(ctx != NULL);
    d = json_object_get(ctx->rec, "_data");
    if (!json_is_object(d)) {
        d = json_object();
        json_object_set_new(ctx->rec, "_data", d);
    }
    return d;
}

const char *
job_ctx_op_id(job_ctx_t *ctx)
{
    assert(ctx != NULL && ctx->op_id[0] != '\0');
    return ctx->op_id;
}

bool
job_ctx_started(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    return json_is_string(json_object_get(ctx->rec, "startedAt"));
}
