/*
 * config_file.c: the config file (--config), read into the settings: an INI file whose keys, under [wapd],
 * are the config keys of the table (config.c), each value set by config_set as a flag's would be. inih
 * parses it; the lines reach inih through read_line, which counts them and refuses one too long for inih's
 * line buffer, and on_ini refuses an unknown section or key and an indented line that inih would read as
 * more of the value above. The first fault is reported with the file's name and the line's number.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

/* A line, its end and the '\0' fit in the buffer inih reads lines into. */
_Static_assert(CONFIG_LINE_MAX + 3 <= INI_MAX_LINE, "a config file line must fit in inih's line buffer");

/* The row of an INI key, which may also be spelled with '-' for '_' (rate-limit = 5), or NULL. */
static const config_setting_t *
find_key(const char *key)
{
    char norm[64];
    size_t i, nsettings;
    const config_setting_t *settings = config_settings(&nsettings);

    /* The long option's spelling is a key too: "rate-limit" reads as "rate_limit". */
    for (i = 0; key[i] && i < sizeof(norm) - 1; i++)
        norm[i] = key[i] == '-' ? '_' : key[i];
    norm[i] = '\0';
    if (key[i] != '\0')
        return NULL;
    for (i = 0; i < nsettings; i++)
        if (settings[i].key && strcmp(settings[i].key, norm) == 0)
            return &settings[i];
    return NULL;
}

/* The file, read a line at a time for inih by read_line, which counts the lines and stops at one too long
 * for inih's buffer (inih itself would cut it, read the cut-off rest as a line of its own and keep a value
 * cut short). */
typedef struct {
    FILE *f;
    int line;         /* the last line read, from 1 */
    int too_long;     /* the line that was too long, or 0 */
    int nul;          /* the line that held a NUL byte (inih would end the value there), or 0 */
    int section_line; /* the last line that began (unindented) with '[', or 0 */
    bool indented;    /* whether the last line read begins with white space */
    size_t limit;     /* the longest line allowed, not counting its end */
} line_reader_t;

typedef struct {
    config_t *cfg;
    line_reader_t *reader;
    char *msg;
    size_t n;
    int msg_line;   /* the line msg is about, or 0 */
    int last_line;  /* the line of the last key, or 0 */
    char last[64];  /* that key */
} ini_ctx_t;

/* inih's reader (fgets' contract): the next line, with its '\n', in str of num bytes; NULL at the end of
 * the file, at a read error, at a line longer than the limit (reader->too_long names it), or at one that
 * holds a NUL byte (reader->nul). */
static char *
read_line(char *str, int num, void *stream)
{
    line_reader_t *r = stream;
    size_t len = 0, room = num > 0 ? (size_t) num : 0, content;
    int ch = EOF;

    if (r->too_long || r->nul || room < 3)
        return NULL;
    if (r->limit > room - 3) /* an inih built with a smaller buffer */
        r->limit = room - 3;
    while ((ch = getc(r->f)) != EOF) {
        if (len + 1 < room)
            str[len] = (char) ch;
        if (ch == '\0' && !r->nul)
            r->nul = r->line + 1;
        len++;
        if (ch == '\n')
            break;
    }
    if (len == 0)
        return NULL;
    r->line++;
    if (r->nul)
        return NULL;
    content = len - (ch == '\n');
    if (content > 0 && len + 1 <= room && str[content - 1] == '\r')
        content--;
    if (content > r->limit || len + 1 > room) {
        r->too_long = r->line;
        return NULL;
    }
    str[len] = '\0';
    r->indented = isspace((unsigned char) str[0]);
    if (str[0] == '[')
        r->section_line = r->line;
    return str;
}

/* inih calls this for each key; the first error's message is kept with its line. */
static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx_t *c = user;
    const config_setting_t *s;

    if (c->msg[0] != '\0')
        return 1; /* the first error is the one reported */
    c->msg_line = c->reader->line;
    /* inih reads an indented line after a key as more of that key's value, and hands the key over again
     * with only that line: the value above would be silently replaced. */
    if (c->reader->indented && c->last_line > c->reader->section_line && strcmp(name, c->last) == 0) {
        snprintf(c->msg, c->n,
                 "this line begins with white space, so it would continue the value of '%s' above; a value "
                 "is one line (remove the indent)",
                 name);
        return 1;
    }
    c->last_line = c->reader->line;
    snprintf(c->last, sizeof(c->last), "%s", name);
    if (section[0] != '\0' && strcmp(section, "wapd") != 0) {
        snprintf(c->msg, c->n, "unknown section [%s] (settings go under [wapd])", section);
        return 1;
    }
    s = find_key(name);
    if (s == NULL) {
        snprintf(c->msg, c->n, "unknown setting '%s'", name);
        return 1;
    }
    if (config_set(c->cfg, s, value, c->msg, c->n) != 0 && c->msg[0] == '\0')
        snprintf(c->msg, c->n, "bad value for --%s", s->name);
    return 1;
}

int
config_load_file(config_t *cfg, char *msg, size_t n)
{
    line_reader_t reader = {.limit = CONFIG_LINE_MAX};
    ini_ctx_t ictx = {.cfg = cfg, .reader = &reader, .msg = msg, .n = n};
    char detail[384];
    int rc, read_error;

    assert(cfg != NULL && cfg->config_file != NULL && msg != NULL && n > 0);
    msg[0] = '\0'; /* on_ini keeps the first message: none yet */
    reader.f = fopen(cfg->config_file, "r");
    if (reader.f == NULL) {
        snprintf(msg, n, "cannot read config file %s", cfg->config_file);
        return -1;
    }
    /* inih reports the first line it could not parse; a bad value's line is ictx.msg_line. Whichever
     * comes first is the error; the line too long, if any, is the last one read. */
    rc = ini_parse_stream(read_line, &reader, on_ini, &ictx);
    read_error = ferror(reader.f);
    fclose(reader.f);
    if (rc < 0 || read_error) {
        snprintf(msg, n, "cannot read config file %s", cfg->config_file);
        return -1;
    }
    if (rc > 0 && (msg[0] == '\0' || rc < ictx.msg_line)) {
        snprintf(msg, n, "%s:%d: not a valid INI line", cfg->config_file, rc);
        return -1;
    }
    if (msg[0] != '\0') {
        snprintf(detail, sizeof(detail), "%s", msg);
        snprintf(msg, n, "%s:%d: %s", cfg->config_file, ictx.msg_line, detail);
        return -1;
    }
    if (reader.nul) {
        snprintf(msg, n, "%s:%d: a NUL byte, which no config file line may hold", cfg->config_file,
                 reader.nul);
        return -1;
    }
    if (reader.too_long) {
        snprintf(msg, n, "%s:%d: line longer than %zu bytes, the most a config file line may have",
                 cfg->config_file, reader.too_long, reader.limit);
        return -1;
    }
    return 0;
}
