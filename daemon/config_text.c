/*
 * config_text.c: the settings table written out for people: --help (a synopsis, then each setting with its
 * help phrase and its facts: range, default, environment, config key, whether SIGHUP applies it) and
 * --print-config (the settings in effect as a config file that loads back: an unset string is a commented
 * line; a secret is never printed). Both are made from the table alone (config.c), wrapped at WIDTH
 * columns.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define WIDTH 100 /* of --help and of the printed config */
#define HELP_COLUMN 32

/* Writes text wrapped at WIDTH columns: first before its first line, rest (of the same width) before the
 * others. A word longer than a line stays whole. */
static void
print_wrapped(FILE *out, const char *first, const char *rest, const char *text)
{
    const char *p = text, *end, *prefix = first;
    size_t room = WIDTH - strlen(rest), len;

    while (*p) {
        len = strlen(p);
        if (len > room) {
            end = p + room;
            while (end > p && *end != ' ')
                end--;
            len = end > p ? (size_t) (end - p) : room;
        }
        fprintf(out, "%s%.*s\n", prefix, (int) len, p);
        prefix = rest;
        p += len;
        while (*p == ' ')
            p++;
    }
}

/* "--workers N" (sep " ") or "--workers=N" (sep "=") */
static void
flag_of(const config_setting_t *s, const char *sep, char *buf, size_t n)
{
    snprintf(buf, n, "--%s%s%s", s->name, s->metavar ? sep : "", s->metavar ? s->metavar : "");
}

/* "1 to 256; default 4; config key workers": the facts --help and the printed config give after the help
 * phrase (the printed config names the flag instead of the key). A string with a config key gives its
 * longest value, what fits on one line of the file ("at most 189 bytes"). */
static void
facts(const config_setting_t *s, bool for_file, char *buf, size_t n)
{
    char flag[64];
    size_t used = 0;

    buf[0] = '\0';
    if (for_file) {
        flag_of(s, "=", flag, sizeof(flag));
        if (s->type == CONFIG_BOOL)
            strncat(flag, s->flag_value ? " sets true" : " sets false", sizeof(flag) - strlen(flag) - 1);
        used += (size_t) snprintf(buf + used, n - used, "Flag %s; ", flag);
    }
    if (s->type == CONFIG_INT && used < n)
        used += (size_t) snprintf(buf + used, n - used, "%ld to %ld; ", s->min, s->max);
    if (s->type != CONFIG_INT && s->type != CONFIG_BOOL && s->key && !s->choices && used < n)
        used += (size_t) snprintf(buf + used, n - used, "at most %zu bytes; ", config_value_max(s));
    if (s->def && used < n)
        used += (size_t) snprintf(buf + used, n - used, "default %s; ", s->def);
    if (s->env && used < n)
        used += (size_t) snprintf(buf + used, n - used, "environment %s; ", s->env);
    if (s->key && !for_file && used < n)
        used += (size_t) snprintf(buf + used, n - used, "config key %s; ", s->key);
    if (s->live && used < n)
        used += (size_t) snprintf(buf + used, n - used, "applied on SIGHUP; ");
    if (used >= 2 && used < n)
        buf[used - 2] = '\0'; /* the last "; " */
}

void
config_usage(FILE *out)
{
    char flag[64], item[80], text[512], more[256], first[HELP_COLUMN + 64], pad[HELP_COLUMN + 1];
    size_t i, col, nsettings;
    const config_setting_t *settings = config_settings(&nsettings);

    assert(out != NULL);
    col = (size_t) fprintf(out, "usage: wapd");
    for (i = 0; i < nsettings; i++) {
        flag_of(&settings[i], " ", flag, sizeof(flag));
        snprintf(item, sizeof(item), " [%s]", flag);
        if (col + strlen(item) > WIDTH)
            col = (size_t) fprintf(out, "\n           ");
        col += (size_t) fprintf(out, "%s", item);
    }
    fprintf(out, "\n\nSettings come from their defaults, then the config file (--config), then the "
                 "environment, then\nthe command line.\n\n");
    memset(pad, ' ', HELP_COLUMN);
    pad[HELP_COLUMN] = '\0';
    for (i = 0; i < nsettings; i++) {
        const config_setting_t *s = &settings[i];

        flag_of(s, " ", flag, sizeof(flag));
        if (strlen(flag) + 3 > HELP_COLUMN) {
            fprintf(out, "  %s\n", flag);
            snprintf(first, sizeof(first), "%s", pad);
        } else {
            snprintf(first, sizeof(first), "  %-*s", HELP_COLUMN - 2, flag);
        }
        snprintf(text, sizeof(text), "%s%s", s->type == CONFIG_BOOL && !s->flag_value ? "do not " : "",
                 s->help);
        print_wrapped(out, first, pad, text);
        facts(s, false, more, sizeof(more));
        if (more[0])
            print_wrapped(out, pad, pad, more);
    }
}

void
config_print(FILE *out, const config_t *cfg)
{
    char more[256], text[768];
    const void *f;
    size_t i, nsettings;
    const config_setting_t *settings = config_settings(&nsettings);

    assert(out != NULL && cfg != NULL);
    print_wrapped(out, "# ", "# ",
                  "wapd configuration (INI), as `wapd --print-config` prints it. The command line overrides "
                  "these settings. The admin token is never in this file: it comes from --admin-token, else "
                  "WAPD_ADMIN_TOKEN, else the systemd credential admin-token, else STATE_DIR/admin.token, "
                  "generated on first start.");
    fprintf(out, "[wapd]\n");
    for (i = 0; i < nsettings; i++) {
        const config_setting_t *s = &settings[i];

        if (s->key == NULL || s->secret)
            continue;
        facts(s, true, more, sizeof(more));
        snprintf(text, sizeof(text), "%c%s. %s.", toupper((unsigned char) s->help[0]), s->help + 1, more);
        fprintf(out, "\n");
        print_wrapped(out, "# ", "# ", text);
        f = (const char *) cfg + s->offset;
        if (s->type == CONFIG_INT)
            fprintf(out, "%s = %d\n", s->key, *(const int *) f);
        else if (s->type == CONFIG_BOOL)
            fprintf(out, "%s = %s\n", s->key, *(const bool *) f ? "true" : "false");
        else if (*(char *const *) f)
            fprintf(out, "%s = %s\n", s->key, *(char *const *) f);
        else /* unset: a commented line, so that the printed file loads back */
            fprintf(out, "# %s = \n", s->key);
    }
}
