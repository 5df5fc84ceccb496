/*
 * backup.c: GET /v1/admin/backup, a consistent copy of the whole database (scope admin: http/auth.c).
 *
 * The copy is made by the store (store_backup_temp) inside the request's read transaction, so it is the
 * snapshot that transaction sees: every write acknowledged before the request began is in it, and
 * writes go on meanwhile. It lands in a temporary file (0600) that is unlinked before the answer starts
 * and streamed from its descriptor as it is (no content coding); the descriptor is closed once sent.
 */
#include "internal.h"

#include <assert.h>

void
api_admin_backup_get(api_req_t *r)
{
    err_t err = {0};
    int64_t size = 0;
    int fd;

    assert(r->tx == API_TX_READ);
    fd = store_backup_temp(r->store, &size, &err);
    if (fd < 0) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_fd(r, "application/vnd.sqlite3", "attachment; filename=\"wapd-backup.db\"", fd, size);
}
