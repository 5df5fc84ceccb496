/*
 * export.c: the verbs that stream (usage export, backup).
 *
 * Placeholder: this build does not carry them yet. Both verbs say so on stderr and exit with the usage
 * status, so that a script never mistakes them for a success.
 */
#include "wapctl.h"

#include <assert.h>

int
wapctl_usage_export(const wapctl_t *c, int argc, char **argv)
{
    assert(c != NULL);
    (void) argc;
    (void) argv;
    fprintf(stderr, "wapctl: usage export is not available in this build\n");
    return WAPCTL_USAGE;
}

int
wapctl_backup(const wapctl_t *c, int argc, char **argv)
{
    assert(c != NULL);
    (void) argc;
    (void) argv;
    fprintf(stderr, "wapctl: backup is not available in this build\n");
    return WAPCTL_USAGE;
}
