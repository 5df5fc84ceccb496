/*
 * store_internal.h: what the SQLite backend's files (store.c, store_usage.c, store_events.c) share, and
 * nothing outside lib/store* may use: the calling thread's connection and its statement cache.
 *
 * A statement from store__stmt is borrowed from the connection's cache: bind it, step it, and hand it back
 * with store__stmt_done (store__stmt_run does both for statements that return no rows). Errors are set
 * once, where SQLite reports them, by store__db_err.
 */
#ifndef WAPD_STORE_INTERNAL_H
#define WAPD_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

typedef struct conn conn_t;

/* The calling thread's connection (opened on first use), or NULL with err set. */
conn_t *store__conn(store_t *st, err_t *err);
sqlite3 *store__db(conn_t *c);
/* A reset prepared statement for sql, from the connection's cache; NULL with err set. */
sqlite3_stmt *store__stmt(conn_t *c, const char *sql, err_t *err);
void store__stmt_done(sqlite3_stmt *s);
/* Runs a statement that returns no rows and hands it back. Returns sqlite3_changes() or -1. */
int store__stmt_run(conn_t *c, sqlite3_stmt *s, const char *doing, err_t *err);
/* Sets err from SQLite's answer rc (409 on constraints, 503 when busy) and returns -1. */
int store__db_err(sqlite3 *db, int rc, const char *doing, err_t *err);
/* The fault-injection countdown (store__fail_call): -1 with err set when this call is to fail. */
int store__injected(store_t *st, err_t *err);

#endif
