/*
 * main.c: the wapd process.
 *
 * Start: settings, the TLS certificate (both listeners serve HTTPS when one is set), state dir and its lock
 * (one wapd per state dir, taken before anything in it is touched), admin token, store (migrations and a
 * quick check), both listeners bound (port 0 picks a free one), the demo when asked, ports.json, then "ready"
 * (READY=1 to systemd). Signals are blocked in every thread and taken synchronously by the main loop, which
 * does all the work: SIGHUP reloads the live settings (reload.c) and the TLS certificate and key between
 * RELOADING=1 and READY=1; on SIGTERM or SIGINT (STOPPING=1) it stops accepting, lets requests in flight
 * finish (bounded), stops the servers, closes the store, lets the lock go and exits 0.
 * Periodic work (usage close, retention, inventory sync, reconcile, purges; the heartbeat and hook sender
 * threads follow store_is_leader) runs only while this daemon leads the daemons sharing its database: the
 * main loop tries for the leadership at the start and on every tick.
 * First of all, jansson is set to allocate through util_malloc, the allocation injection point.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "../api/api.h"
#include "../lib/accounts.h"
#include "../lib/agent.h"
#include "../lib/catalog.h"
#include "../lib/checkpoint.h"
#include "../lib/events.h"
#include "../lib/hooks.h"
#include "../lib/hostreg.h"
#include "../lib/hostwatch.h"
#include "../lib/inventory.h"
#include "../lib/log.h"
#include "../lib/job.h"
#include "../lib/reconcile.h"
#include "../lib/snapshot.h"
#include "../lib/store.h"
#include "../lib/sysio.h"
#include "../lib/usage.h"
#include "../lib/util.h"
#include "../lib/vm.h"
#include "../lib/vmrole.h"
#include "config.h"
#include "demo.h"
#include "lock.h"
#include "reload.h"

#define SHUTDOWN_GRACE_MS 8000
#define IDEMPOTENCY_MAX_AGE_MS (24LL * 3600 * 1000)
/* A hook's delivery log keeps a week of attempts. */
#define DELIVERY_LOG_MAX_AGE_MS (7LL * 24 * 3600 * 1000)
#define PURGE_EVERY_MS (3600LL * 1000)
/* The write the main loop tries while the database's disk is full: room for this much is room for most
 * requests' writes (a small write may fit in room the database reuses while the disk has none). */
#define STORAGE_PROBE_BYTES (256 * 1024)
/* How long the start spends closing the usage periods that ended while the daemon was down. */
#define STARTUP_CLOSE_BUDGET_MS 2000

/* Binds and listens on spec; writes the bound port and the listener's URL (https when tls). Returns the
 * socket or -1. */
static int
bind_listener(const char *spec, bool tls, int *bound_port, char *url, size_t urln)
{
    char host[256], port[16], shown[300];
    const char *why = NULL;
    int fd;

    assert(spec != NULL && bound_port != NULL && url != NULL);
    if (config_split_hostport(spec, host, sizeof(host), port, sizeof(port))) {
        fprintf(stderr, "wapd: '%s' is not HOST:PORT\n", spec);
        return -1;
    }
    fd = sysio_listen_tcp(host, port, bound_port, &why);
    if (fd < 0) {
        fprintf(stderr, "wapd: cannot listen on %s: %s\n", spec, why);
        return -1;
    }
    /* A wildcard address is reached through loopback on this machine. */
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
        snprintf(shown, sizeof(shown), "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(shown, sizeof(shown), "[::1]");
    else if (strchr(host, ':'))
        snprintf(shown, sizeof(shown), "[%s]", host);
    else
        snprintf(shown, sizeof(shown), "%s", host);
    snprintf(url, urln, "%s://%s:%d", tls ? "https" : "http", shown, *bound_port);
    return fd;
}

/* The first line of a token file dir/name, or NULL when it is absent, unreadable or empty. */
static char *
read_token_file(const char *dir, const char *name)
{
    char path[4096], buf[256], *nl;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    return buf[0] ? strdup(buf) : NULL;
}

/* The admin token: from settings (--admin-token, WAPD_ADMIN_TOKEN), else the systemd credential
 * admin-token ($CREDENTIALS_DIRECTORY/admin-token), else DIR/admin.token, else a new one written there
 * (0600). */
static char *
resolve_admin_token(const config_t *cfg, bool *generated)
{
    char path[4096], buf[256], *token;
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    unsigned char raw[32];
    char b64[64];

    assert(cfg != NULL && cfg->state_dir != NULL && generated != NULL);
    *generated = false;
    if (cfg->admin_token)
        return strdup(cfg->admin_token);
    token = creds && *creds ? read_token_file(creds, "admin-token") : NULL;
    if (token == NULL)
        token = read_token_file(cfg->state_dir, "admin.token");
    if (token)
        return token;
    snprintf(path, sizeof(path), "%s/admin.token", cfg->state_dir);
    if (util_random_bytes(raw, sizeof(raw)))
        return NULL;
    util_b64url_encode(raw, sizeof(raw), b64);
    snprintf(buf, sizeof(buf), "wapdadm_%s", b64);
    if (sysio_write_file(path, buf, strlen(buf), 0600) != 0)
        return NULL;
    *generated = true;
    return strdup(buf);
}

/* The listeners' certificate when --tls-cert and --tls-key are given (both or neither: *tls stays NULL),
 * and a check that the --cacert file wapd's own clients trust can be read. Returns -1 with a message on
 * stderr naming the setting or file at fault. */
static int
tls_setup(const config_t *cfg, api_tls_t **tls)
{
    char msg[1024];

    assert(cfg != NULL && tls != NULL);
    *tls = NULL;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        fprintf(stderr, "wapd: --%s (%s) is missing: HTTPS needs both --tls-cert and --tls-key\n",
                cfg->tls_cert ? "tls-key" : "tls-cert", cfg->tls_cert ? "tls_key" : "tls_cert");
        return -1;
    }
    if (cfg->cacert != NULL && access(cfg->cacert, R_OK) != 0) {
        fprintf(stderr, "wapd: cannot read --cacert %s: %s\n", cfg->cacert, strerror(errno));
        return -1;
    }
    if (cfg->tls_cert == NULL)
        return 0;
    *tls = api_tls_new(cfg->tls_cert, cfg->tls_key, msg, sizeof(msg));
    if (*tls == NULL) {
        fprintf(stderr, "wapd: %s\n", msg);
        return -1;
    }
    return 0;
}

static int
ensure_dir(const char *dir)
{
    struct stat sb;

    if (stat(dir, &sb) == 0)
        return S_ISDIR(sb.st_mode) ? 0 : -1;
    return mkdir(dir, 0700);
}

/* File descriptors kept for everything but the listeners' connections: the store, hosts, hooks, logs. */
#define FD_RESERVE 1024

/* Raises the soft limit of open files to what both listeners' connection limits need (plus FD_RESERVE),
 * up to the hard limit (beyond it when the process may). When even that is short, says so in a log line:
 * the connections past it are then refused by the kernel's accept, not by the connection limit. */
static void
raise_open_file_limit(const config_t *cfg)
{
    struct rlimit rl, want;
    rlim_t need = (rlim_t) cfg->connection_limit * 2 + FD_RESERVE;
    rlim_t was;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    was = rl.rlim_cur;
    want.rlim_cur = need;
    want.rlim_max = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) { /* a hard limit below need, and not ours to raise */
        want.rlim_cur = rl.rlim_max;
        want.rlim_max = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) != 0)
            want.rlim_cur = was;
    }
    if (want.rlim_cur < need)
        log_line("warn", "the open file limit is below what the connection limits need",
                 json_pack("{s:I, s:I, s:i}", "limit", (json_int_t) want.rlim_cur, "needed",
                           (json_int_t) need, "connectionLimit", cfg->connection_limit));
    else
        log_line("info", "open file limit raised",
                 json_pack("{s:I, s:I}", "from", (json_int_t) was, "to", (json_int_t) want.rlim_cur));
}

/* Tries for the leadership of the periodic work (store_leader_try) and logs it changing hands: "leader"
 * with leader true when this daemon takes it, false when it lets it go. A daemon that takes it wakes the
 * hook sender, which sends what is pending at once. Answers whether this daemon leads now. */
static bool
lead(store_t *st, bool *leading)
{
    err_t err = {0};
    int rc = store_leader_try(st, &err);

    if (rc == 1 && !*leading) {
        log_line("info", "leader", json_pack("{s:b}", "leader", 1));
        hooks_sender_wake();
    } else if (rc != 1 && *leading) {
        log_line(rc < 0 ? "warn" : "info", "leader",
                 rc < 0 ? json_pack("{s:b, s:s}", "leader", 0, "detail", err.message)
                        : json_pack("{s:b}", "leader", 0));
    }
    *leading = rc == 1;
    return *leading;
}

int
main(int argc, char **argv)
{
    config_t cfg;
    char msg[512], dbpath[4096], portspath[4096], admin_url[320], tenant_url[320], hint[4200];
    char *admin_token = NULL;
    bool generated = false, leading = false;
    store_t *st = NULL;
    api_server_t *admin = NULL, *tenant = NULL;
    api_tls_t *tls = NULL;
    api_ctx_t ctx;
    sigset_t set;
    siginfo_t si;
    struct timespec tick = {1, 0};
    int admin_fd = -1, tenant_fd = -1, admin_port = 0, tenant_port = 0, lock_fd = -1, sig, rc = 1;
    err_t err = {0};
    hooks_options_t hook_opts = {0};
    int64_t deadline, last_purge = 0, last_sweep = 0, sweep_offset_ms = 0, last_sync, last_reconcile;
    const char *offset_env = getenv("WAPD_RETENTION_CLOCK_OFFSET_HOURS");
    char *ports;

    util_alloc_install(); /* before any JSON is made and before any thread starts */
    if (config_load(&cfg, argc, argv, msg, sizeof(msg))) {
        fprintf(stderr, "wapd: %s\n", msg);
        config_free(&cfg);
        return 2;
    }
    if (cfg.help || cfg.version || cfg.print_config) {
        if (cfg.help)
            config_usage(stdout);
        else if (cfg.version)
            printf("wapd %s\n", WAPD_VERSION);
        else
            config_print(stdout, &cfg);
        config_free(&cfg);
        return 0;
    }
    /* The demo seeds sim hosts, which a store shared by several daemons refuses (lib/catalog/host.c). */
    if (cfg.demo && cfg.store != NULL) {
        fprintf(stderr, "wapd: --demo cannot be used with --store: the demo seeds sim hosts, and a store "
                        "that several daemons share takes only http (wapd-agent) or libvirt hosts; run the "
                        "demo without --store (on the state dir's own database)\n");
        config_free(&cfg);
        return 2;
    }
    log_set_level(cfg.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Every thread started from here on inherits this mask; the main loop takes the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (tls_setup(&cfg, &tls) != 0 || agent_http_set_default_ca_file(cfg.cacert) != 0)
        goto out;
    if (ensure_dir(cfg.state_dir) != 0) {
        fprintf(stderr, "wapd: cannot use state dir %s: %s\n", cfg.state_dir, strerror(errno));
        goto out;
    }
    /* Before anything in the state dir is read or written: a second daemon changes nothing. */
    lock_fd = lock_state_dir(cfg.state_dir, msg, sizeof(msg));
    if (lock_fd < 0) {
        fprintf(stderr, "wapd: %s\n", msg);
        goto out;
    }
    admin_token = resolve_admin_token(&cfg, &generated);
    if (admin_token == NULL) {
        fprintf(stderr, "wapd: cannot read or write %s/admin.token\n", cfg.state_dir);
        goto out;
    }
    /* The location logged is the file path, or the backend's name: a store URI may carry a password. */
    if (cfg.store != NULL)
        snprintf(dbpath, sizeof(dbpath), "%s", cfg.store);
    else
        snprintf(dbpath, sizeof(dbpath), "%s/wapd.db", cfg.state_dir);
    st = store_open(dbpath, NULL, &err);
    if (st == NULL) {
        log_line("error", "the store could not be opened",
                 json_pack("{s:s, s:s}", "path", cfg.store ? "--store" : dbpath, "detail", err.message));
        goto out;
    }
    log_line("info", "store open",
             json_pack("{s:s, s:s, s:i}", "path", cfg.store ? "--store" : dbpath, "backend",
                       store_backend_name(st), "schemaVersion", store_schema_version(st)));

    hostreg_init(cfg.state_dir);
    if (agent_builtin_register() || catalog_jobs_register() || accounts_jobs_register() ||
        vm_jobs_register() || checkpoint_jobs_register() || vmrole_jobs_register() ||
        inventory_jobs_register() || snapshot_jobs_register()) {
        fprintf(stderr, "wapd: the built-in agents and job kinds could not be registered\n");
        goto out;
    }
    err_clear(&err);
    job_engine_set_deadline((int64_t) cfg.job_deadline_seconds * 1000);
    if (job_engine_start(st, cfg.workers, &err)) {
        log_line("error", "the job engine could not start", json_pack("{s:s}", "detail", err.message));
        goto out;
    }
    log_line("info", "job engine started", json_pack("{s:i}", "workers", cfg.workers));
    if (hostwatch_start(st, cfg.host_heartbeat_seconds, &err)) {
        log_line("error", "the host heartbeat could not start", json_pack("{s:s}", "detail", err.message));
        goto out;
    }
    hook_opts.max_age_ms = (int64_t) cfg.hook_max_age_seconds * 1000;
    hook_opts.timeout_ms = (long) cfg.hook_timeout_seconds * 1000;
    hook_opts.connect_timeout_ms = hook_opts.timeout_ms < 5000 ? hook_opts.timeout_ms : 5000;
    hook_opts.ca_file = cfg.cacert;
    if (hooks_sender_start(st, &hook_opts, &err)) {
        log_line("error", "the hook sender could not start", json_pack("{s:s}", "detail", err.message));
        goto out;
    }
    /* Periods that ended while the daemon was down are closed now, before it serves, for as long as
     * STARTUP_CLOSE_BUDGET_MS: a close of a million VMs takes minutes, and the main loop's first round
     * goes on from where this one stopped. Only by the leader: another daemon is closing them already. */
    err_clear(&err);
    if (lead(st, &leading) &&
        usage_close_due_within(st, (int64_t) cfg.usage_period_seconds * 1000, util_now_ms(),
                               STARTUP_CLOSE_BUDGET_MS, &err) < 0)
        log_line("warn", "usage periods could not be closed", json_pack("{s:s}", "detail", err.message));

    raise_open_file_limit(&cfg);
    admin_fd = bind_listener(cfg.admin_listen, tls != NULL, &admin_port, admin_url, sizeof(admin_url));
    tenant_fd = admin_fd < 0 ? -1
                             : bind_listener(cfg.tenant_listen, tls != NULL, &tenant_port, tenant_url,
                                             sizeof(tenant_url));
    if (admin_fd < 0 || tenant_fd < 0)
        goto out;

    memset(&ctx, 0, sizeof(ctx));
    ctx.store = st;
    util_sha256_hex(admin_token, strlen(admin_token), ctx.admin_token_hash);
    ctx.tls = tls != NULL;
    ctx.tls_creds = tls;
    ctx.public_url = cfg.public_url;
    ctx.connection_limit = cfg.connection_limit;
    ctx.per_address_limit = cfg.per_address_limit;
    ctx.request_timeout_s = cfg.request_timeout_seconds;
    ctx.idle_timeout_s = cfg.idle_timeout_seconds;
    reload_apply(&cfg, &ctx); /* the log level, the rate limit, the request log */
    admin = api_server_start(&ctx, API_LISTENER_ADMIN, admin_fd, cfg.http_threads);
    admin_fd = -1;
    tenant = admin ? api_server_start(&ctx, API_LISTENER_TENANT, tenant_fd, cfg.http_threads) : NULL;
    tenant_fd = -1;
    if (admin == NULL || tenant == NULL)
        goto out;
    log_line("info", "listening",
             json_pack("{s:s, s:s, s:i, s:i}", "admin", admin_url, "tenant", tenant_url,
                       "adminPort", admin_port, "tenantPort", tenant_port));
    if (generated)
        log_line("info", "admin token generated",
                 json_pack("{s:s+}", "file", cfg.state_dir, "/admin.token"));

    if (cfg.demo) {
        if (cfg.admin_token)
            snprintf(hint, sizeof(hint), "$WAPD_ADMIN_TOKEN");
        else
            snprintf(hint, sizeof(hint), "$(cat %s/admin.token)", cfg.state_dir);
        if (demo_seed(st, stdout, admin_url, tenant_url, hint))
            goto out;
    }

    snprintf(portspath, sizeof(portspath), "%s/ports.json", cfg.state_dir);
    if (asprintf(&ports, "{\"admin\": %d, \"tenant\": %d}\n", admin_port, tenant_port) < 0 ||
        sysio_write_file(portspath, ports, strlen(ports), 0644) != 0) {
        fprintf(stderr, "wapd: cannot write %s\n", portspath);
        goto out;
    }
    free(ports);
    ctx.ready = 1;
    last_sync = util_now_ms(); /* the first periodic sync comes one period after the start */
    last_reconcile = last_sync; /* and so does the first reconcile */
    /* Tests of retention run the sweep's clock ahead instead of waiting hours. */
    if (offset_env && *offset_env)
        sweep_offset_ms = (int64_t) atoll(offset_env) * 3600 * 1000;
    log_line("info", "ready",
             json_pack("{s:s, s:s}", "version", WAPD_VERSION, "instance", job_engine_instance()));
    sd_notify(0, "READY=1"); /* under systemd (Type=notify): both listeners serve, ports.json is written */

    for (;;) {
        sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP) {
            sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long) (util_mono_ns() / 1000));
            reload_settings(&cfg, &ctx, argc, argv);
            if (tls != NULL)
                api_tls_reload(tls); /* a bad new pair keeps the old one (logged) */
            sd_notify(0, "READY=1");
        }
        if (store_storage_full(st)) {
            /* The last write found no room: one write of our own each tick finds when there is room again
             * (and /readyz, which fails meanwhile, says ready again) without waiting for a client's write. */
            err_clear(&err);
            if (store_write_probe(st, STORAGE_PROBE_BYTES, &err) == 0)
                log_line("info", "the database has room for writes again", NULL);
        }
        err_clear(&err);
        if (accounts_admin_tokens_flush(st, &err) < 0) /* when admin tokens were last used */
            log_line("warn", "admin token uses could not be recorded", json_pack("{s:s}", "detail", err.message));
        /* The rest is the leader's; a daemon that has just become it finds each period elapsed. */
        lead(st, &leading);
        if (leading && util_now_ms() - last_sweep >= (int64_t) cfg.retention_sweep_seconds * 1000) {
            /* Durable: the sweep only starts jobs, which live in the database; it is idempotent. */
            err_clear(&err);
            if (checkpoint_retention_sweep(st, util_now_ms() + sweep_offset_ms, &err) < 0)
                log_line("warn", "the checkpoint retention sweep failed",
                         json_pack("{s:s}", "detail", err.message));
            last_sweep = util_now_ms();
        }
        err_clear(&err);
        if (leading) {
            int64_t t0 = util_mono_ns();
            int closed = usage_close_due(st, (int64_t) cfg.usage_period_seconds * 1000,
                                         util_now_ms(), &err);
            if (closed < 0)
                log_line("warn", "usage periods could not be closed",
                         json_pack("{s:s}", "detail", err.message));
            else if (closed > 0)
                log_line("info", "usage periods closed",
                         json_pack("{s:i, s:f}", "periods", closed, "durationMs",
                                   (double) (util_mono_ns() - t0) / 1e6));
        }
        if (leading && cfg.inventory_sync_seconds > 0 &&
            util_now_ms() - last_sync >= (int64_t) cfg.inventory_sync_seconds * 1000) {
            err_clear(&err);
            if (inventory_sweep(st, &err) < 0)
                log_line("warn", "the inventory sweep failed", json_pack("{s:s}", "detail", err.message));
            last_sync = util_now_ms();
        }
        if (leading && cfg.reconcile_seconds > 0 &&
            util_now_ms() - last_reconcile >= (int64_t) cfg.reconcile_seconds * 1000) {
            /* Each subscription and host in a transaction of its own; work under way is left alone. */
            err_clear(&err);
            if (reconcile_run(st, &err) < 0)
                log_line("warn", "the reconcile of quotas and host allocation failed",
                         json_pack("{s:s}", "detail", err.message));
            last_reconcile = util_now_ms();
        }
        if (leading &&
            (util_now_ms() - last_purge >= PURGE_EVERY_MS ||
             (cfg.usage_retention_seconds < 3600 &&
              util_now_ms() - last_purge >= (int64_t) cfg.usage_retention_seconds * 1000) ||
             (cfg.event_retention_seconds < 3600 &&
              util_now_ms() - last_purge >= (int64_t) cfg.event_retention_seconds * 1000) ||
             (cfg.job_retention_seconds < 3600 &&
              util_now_ms() - last_purge >= (int64_t) cfg.job_retention_seconds * 1000))) {
            err_clear(&err);
            store_idem_purge(st, IDEMPOTENCY_MAX_AGE_MS, &err);
            err_clear(&err);
            store_deliveries_purge(st, util_now_ms() - DELIVERY_LOG_MAX_AGE_MS, &err);
            err_clear(&err);
            if (events_purge(st, (int64_t) cfg.event_retention_seconds * 1000, util_now_ms(), &err) < 0)
                log_line("warn", "events could not be purged", json_pack("{s:s}", "detail", err.message));
            err_clear(&err);
            if (job_purge(st, (int64_t) cfg.job_retention_seconds * 1000, util_now_ms(), &err) < 0)
                log_line("warn", "ended jobs could not be purged", json_pack("{s:s}", "detail", err.message));
            err_clear(&err);
            if (usage_purge(st, (int64_t) cfg.usage_retention_seconds * 1000, util_now_ms(), &err) < 0)
                log_line("warn", "usage records could not be purged",
                         json_pack("{s:s}", "detail", err.message));
            last_purge = util_now_ms();
        }
    }
    sd_notify(0, "STOPPING=1");
    log_line("info", "stopping", json_pack("{s:s}", "signal", strsignal(sig)));
    ctx.ready = 0;
    api_server_quiesce(admin);
    api_server_quiesce(tenant);
    deadline = util_now_ms() + SHUTDOWN_GRACE_MS;
    while ((api_server_inflight(admin) > 0 || api_server_inflight(tenant) > 0) &&
           util_now_ms() < deadline) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    err_clear(&err);
    accounts_admin_tokens_flush(st, &err); /* the last uses, best effort */
    rc = 0;
out:
    api_server_free(admin);
    api_server_free(tenant);
    api_tls_free(tls); /* after every server that presents it */
    /* After the listeners: running job steps reach their end (a safe point); the rest resumes at the next
     * start. */
    hostwatch_stop(); /* first: a heartbeat may start jobs */
    job_engine_stop();
    hooks_sender_stop();
    hostreg_shutdown();
    if (admin_fd >= 0)
        close(admin_fd);
    if (tenant_fd >= 0)
        close(tenant_fd);
    store_close(st);
    if (lock_fd >= 0)
        close(lock_fd); /* after the store: the next daemon opens it only once this one is done */
    if (admin_token) {
        memset(admin_token, 0, strlen(admin_token));
        free(admin_token);
    }
    if (rc == 0)
        log_line("info", "stopped", NULL);
    config_free(&cfg);
    return rc;
}
