/*
 * fuzz_config.c: fuzz target for the config file (daemon/config_file.c): the input is written to a file and
 * read by config_load (`wapd --config FILE`), that is the line reader, inih and config_set on every key. A
 * file it accepts is printed (config_print), and what is printed must be lines of at most CONFIG_LINE_MAX
 * bytes that load back and print the same: the --print-config promise. Any input is accepted or refused
 * with a message, without a crash, a leak or undefined behaviour.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/config.h"

static char file[128];

static void
remove_file(void)
{
    unlink(file);
}

/* Writes len bytes of text to the file. */
static void
put(const char *text, size_t len)
{
    FILE *f = fopen(file, "wb");

    if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
}

/* Loads the file; prints the settings into *out (malloc'd) when it loads. Returns config_load's result. */
static int
load(char **out, char *msg, size_t n)
{
    char *argv[] = {"wapd", "--config", file, NULL};
    config_t cfg;
    size_t len;
    FILE *m;
    int rc;

    *out = NULL;
    rc = config_load(&cfg, 3, argv, msg, n);
    if (rc == 0) {
        m = open_memstream(out, &len);
        if (m == NULL)
            abort();
        config_print(m, &cfg);
        fclose(m);
    } else if (msg[0] == '\0') {
        fprintf(stderr, "fuzz config: refused without a message\n");
        abort();
    }
    config_free(&cfg);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512], *printed, *again, *line, *end;
    int fd;

    if (file[0] == '\0') {
        snprintf(file, sizeof(file), "%s/wapd-fuzz-config-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        fd = mkstemp(file);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_file);
    }
    put((const char *) data, size);
    if (load(&printed, msg, sizeof(msg)) != 0)
        return 0;
    for (line = printed; *line; line = end + (*end == '\n')) {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if ((size_t) (end - line) > CONFIG_LINE_MAX) {
            fprintf(stderr, "fuzz config: a printed line of %zu bytes:\n%s\n", (size_t) (end - line),
                    printed);
            abort();
        }
    }
    put(printed, strlen(printed));
    if (load(&again, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "fuzz config: the printed settings do not load back: %s\n%s\n", msg, printed);
        abort();
    }
    if (strcmp(printed, again) != 0) {
        fprintf(stderr, "fuzz config: printed twice differently:\n%s\n----\n%s\n", printed, again);
        abort();
    }
    free(printed);
    free(again);
    return 0;
}
