/*
 * files.c: wapd-agent's own files in its state dir: agent.token (the bearer token, 0600, alone on
 * one line) and agent.json ({"port": N}, the port it listens on).
 *
 * Invariants: each file is replaced whole (written to a temporary name, fsynced, renamed over the
 * old one, then the directory fsynced), so a crash leaves the old file or the new one, never a
 * part; the token is never written anywhere but agent.token and never printed.
 */
#include "agentd.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/sysio.h"
#include "../../lib/util.h"

#define TOKEN_BYTES 32

int
agentd_file_write(const char *dir, const char *name, const char *text, int mode)
{
    char path[4096];

    assert(dir != NULL && name != NULL && text != NULL);
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int) sizeof(path))
        return -1;
    return sysio_write_file(path, text, strlen(text), (mode_t) mode);
}

/* Reads the first line of path into out (without its end of line). 0, or -1 when the file cannot be
 * read or its first line is empty or too long. */
static int
read_first_line(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    size_t len;
    int rc = -1;

    if (f == NULL)
        return -1;
    if (fgets(out, (int) n, f) != NULL) {
        len = strcspn(out, "\r\n");
        if (out[len] != '\0' || len < n - 1) { /* a whole line, or the file's last */
            out[len] = '\0';
            rc = len > 0 ? 0 : -1;
        }
    }
    fclose(f);
    return rc;
}

int
agentd_token_resolve(const char *dir, const char *token, const char *token_file,
                     char out[AGENTD_TOKEN_MAX])
{
    unsigned char raw[TOKEN_BYTES];
    char path[4096], line[TOKEN_BYTES * 2 + 2];

    assert(dir != NULL && out != NULL);
    if (token != NULL) {
        if (token[0] == '\0' || strlen(token) >= AGENTD_TOKEN_MAX) {
            fprintf(stderr, "wapd-agent: --token must be 1 to %d characters\n",
                    AGENTD_TOKEN_MAX - 1);
            return -1;
        }
        snprintf(out, AGENTD_TOKEN_MAX, "%s", token);
        return 0;
    }
    if (token_file != NULL) {
        if (read_first_line(token_file, out, AGENTD_TOKEN_MAX) != 0) {
            fprintf(stderr, "wapd-agent: cannot read a token from --token-file %s\n", token_file);
            return -1;
        }
        return 0;
    }
    snprintf(path, sizeof(path), "%s/agent.token", dir);
    if (access(path, F_OK) == 0) {
        if (read_first_line(path, out, AGENTD_TOKEN_MAX) != 0) {
            fprintf(stderr, "wapd-agent: cannot read a token from %s\n", path);
            return -1;
        }
        return 0;
    }
    if (util_random_bytes(raw, sizeof(raw)) != 0) {
        fprintf(stderr, "wapd-agent: the random generator failed\n");
        return -1;
    }
    util_hex(raw, sizeof(raw), out);
    snprintf(line, sizeof(line), "%s\n", out);
    memset(raw, 0, sizeof(raw));
    if (agentd_file_write(dir, "agent.token", line, 0600) != 0) {
        fprintf(stderr, "wapd-agent: cannot write %s: %s\n", path, strerror(errno));
        memset(line, 0, sizeof(line));
        return -1;
    }
    memset(line, 0, sizeof(line));
    return 0;
}

int
agentd_port_load(const char *dir)
{
    char path[4096];
    json_error_t jerr;
    json_t *j;
    json_int_t port;

    assert(dir != NULL);
    snprintf(path, sizeof(path), "%s/agent.json", dir);
    if (access(path, F_OK) != 0)
        return 0;
    j = json_load_file(path, 0, &jerr);
    port = json_integer_value(json_object_get(j, "port"));
    json_decref(j);
    if (j == NULL || port < 1 || port > 65535) {
        fprintf(stderr, "wapd-agent: %s does not hold a port\n", path);
        return -1;
    }
    return (int) port;
}

int
agentd_port_save(const char *dir, int port)
{
    char text[64];

    assert(port > 0 && port <= 65535);
    snprintf(text, sizeof(text), "{\"port\": %d}\n", port);
    return agentd_file_write(dir, "agent.json", text, 0644);
}
