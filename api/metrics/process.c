/*
 * process.c: the process_* families of /metrics (the names every Prometheus client library uses), read
 * from /proc/self at each scrape: CPU time, resident and virtual memory, open and allowed file
 * descriptors, and the start time.
 *
 * Invariants: nothing is cached; a figure that cannot be read (no /proc, say) is left out with its
 * family, never shown as 0.
 */
#include <assert.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics_internal.h"

/* What /proc/self/stat says (man 5 proc): CPU time in clock ticks, start time in ticks after boot,
 * virtual memory in bytes, resident memory in pages. */
typedef struct {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
} proc_stat_t;

static bool
read_stat(proc_stat_t *out)
{
    char text[2048], *p;
    size_t n;
    FILE *f = fopen("/proc/self/stat", "r");
    bool ok = false;

    if (f == NULL)
        return false;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command's name (field 2) is in parentheses and may hold spaces: count from the last ')'. */
    p = strrchr(text, ')');
    if (p != NULL)
        ok = sscanf(p + 1,
                    " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d"
                    " %llu %llu %lld",
                    &out->utime, &out->stime, &out->starttime, &out->vsize, &out->rss) == 5;
    return ok;
}

/* The boot time (seconds since the epoch), from /proc/stat's btime line; -1 when unknown. */
static long long
boot_time(void)
{
    char line[256];
    long long btime = -1;
    FILE *f = fopen("/proc/stat", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    return btime;
}

/* Open file descriptors (the entries of /proc/self/fd, the one this count holds included); -1 when
 * unknown. */
static long
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

void
api_metrics__process(util_buf_t *b)
{
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds = open_fds();
    long long btime = boot_time();
    struct rlimit lim;
    proc_stat_t ps;

    assert(b != NULL);
    if (ticks > 0 && page > 0 && read_stat(&ps)) {
        api_metrics__family(b, "process_cpu_seconds_total", "counter",
                            "CPU time the process has used, user and system, in seconds.");
        api_metrics__printf(b, "process_cpu_seconds_total %.2f\n",
                            (double) (ps.utime + ps.stime) / (double) ticks);
        api_metrics__family(b, "process_resident_memory_bytes", "gauge",
                            "Memory the process holds in RAM, in bytes.");
        api_metrics__printf(b, "process_resident_memory_bytes %lld\n", ps.rss * (long long) page);
        api_metrics__family(b, "process_virtual_memory_bytes", "gauge",
                            "The process's virtual address space, in bytes.");
        api_metrics__printf(b, "process_virtual_memory_bytes %llu\n", ps.vsize);
        if (btime >= 0) {
            api_metrics__family(b, "process_start_time_seconds", "gauge",
                                "When the process started, in seconds since the Unix epoch.");
            api_metrics__printf(b, "process_start_time_seconds %.2f\n",
                                (double) btime + (double) ps.starttime / (double) ticks);
        }
    }
    if (fds >= 0) {
        api_metrics__family(b, "process_open_fds", "gauge", "File descriptors the process has open.");
        api_metrics__printf(b, "process_open_fds %ld\n", fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        api_metrics__family(b, "process_max_fds", "gauge",
                            "File descriptors the process may have open (its soft limit).");
        if (lim.rlim_cur == RLIM_INFINITY)
            api_metrics__printf(b, "process_max_fds +Inf\n");
        else
            api_metrics__printf(b, "process_max_fds %llu\n", (unsigned long long) lim.rlim_cur);
    }
}
