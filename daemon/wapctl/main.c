/*
 * main.c: wapctl, the admin CLI: reads the global options, finds where the admin API is and which token
 * to send, and hands the noun's verb its arguments.
 *
 * Where: --url, else --state-dir DIR (DIR/ports.json's admin port on 127.0.0.1), else WAPD_URL, else
 * http://127.0.0.1:30004 (the default admin listener). The token: --token, else DIR/admin.token, else
 * WAPD_TOKEN; none is a usage error. With --state-dir the scheme is https when --cacert is given. Global
 * options come before the noun; -o, --wait, --cacert, --token and --state-dir are also taken after it
 * (--url is not: hooks have a field of that name). Exit statuses are the WAPCTL_* values: 0 success, 1 an
 * error answer or a failed job, 2 bad usage, 3 no connection.
 */
#include "nouns.h"

#include "../../lib/util.h" /* WAPD_VERSION only */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define DEFAULT_URL "http://127.0.0.1:30004"

typedef struct {
    const char *url, *token, *state_dir, *cacert, *output;
    bool wait, help, version;
} options_t;

static void
usage(FILE *out)
{
    const wapctl_noun_t *n;

    fprintf(out,
            "usage: wapctl [--url URL --token TOKEN | --state-dir DIR] [--cacert FILE] [-o table|json]\n"
            "              NOUN VERB [ARGS] [--field value ...] [--wait]\n"
            "\n"
            "  --url URL        the admin listener, http[s]://HOST:PORT (or WAPD_URL)\n"
            "  --token TOKEN    an admin token (or WAPD_TOKEN)\n"
            "  --state-dir DIR  read DIR/ports.json and DIR/admin.token; the daemon is on 127.0.0.1\n"
            "  --cacert FILE    CA bundle for an https URL\n"
            "  -o table|json    a table within 100 columns (default), or the API's JSON\n"
            "  --wait           wait for the job a verb starts; exit 1 if it fails or is canceled\n"
            "  --help           this text; `wapctl NOUN --help`: the noun's verbs and options\n"
            "  --version        print the version\n"
            "\n"
            "Fields are the API's camelCase names in kebab-case (cloudId: --cloud-id). Numbers and\n"
            "true|false are sent as JSON numbers and booleans; \"null\" clears a field that may be null;\n"
            "a list takes repeated options or comma-separated values (--image-ids A,B or --image-id A\n"
            "--image-id B); --quota KEY=N (repeatable) fills quotas. An ID, and an id-valued field such\n"
            "as --cloud-id, may be the item's unique name.\n"
            "Exit status: 0 success, 1 the API answered an error or the job failed, 2 bad usage,\n"
            "3 could not connect.\n"
            "\nnouns:\n");
    for (n = wapctl_nouns; n->name != NULL; n++)
        fprintf(out, "  %-14s %s\n", n->name, n->help);
}

/* Takes the global option at argv[*i] into o. Returns 1 when taken, 0 when argv[*i] is not one, -1 on a
 * usage error (printed). url says whether --url counts. */
static int
global_take(options_t *o, int argc, char **argv, int *i, bool url)
{
    static const char *const names[] = {"--url", "--token", "--state-dir", "--cacert", "-o", "--output"};
    const char **slots[] = {&o->url, &o->token, &o->state_dir, &o->cacert, &o->output, &o->output};
    const char *a = argv[*i];
    size_t k, n;

    if (strcmp(a, "--wait") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        *(a[2] == 'w' ? &o->wait : &o->help) = true;
        return 1;
    }
    for (k = url ? 0 : 1; k < sizeof(names) / sizeof(names[0]); k++) {
        n = strlen(names[k]);
        if (strncmp(a, names[k], n) != 0)
            continue;
        if (a[n] == '=') {
            *slots[k] = a + n + 1;
            return 1;
        }
        if (a[n] != '\0')
            continue;
        if (*i + 1 >= argc) {
            fprintf(stderr, "wapctl: %s needs a value\n", a);
            return -1;
        }
        *slots[k] = argv[++*i];
        return 1;
    }
    return 0;
}

/* Reads a whole small file into a malloc'd string without its trailing white space, or NULL. */
static char *
file_read(const char *dir, const char *name)
{
    char *path = NULL, *text = NULL;
    size_t n = 0;
    FILE *f;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    f = fopen(path, "r");
    free(path);
    if (f == NULL)
        return NULL;
    if (getdelim(&text, &n, '\0', f) < 0) {
        free(text);
        text = NULL;
    }
    fclose(f);
    for (n = text != NULL ? strlen(text) : 0; n > 0 && strchr(" \t\r\n", text[n - 1]); n--)
        text[n - 1] = '\0';
    return text;
}

/* Fills c's url and token from the options and the environment. Returns a WAPCTL_* status. */
static int
target_fill(const options_t *o, wapctl_t *c)
{
    char *ports;
    json_t *doc;
    json_int_t port;

    if (o->url != NULL) {
        c->url = strdup(o->url);
    } else if (o->state_dir != NULL) {
        ports = file_read(o->state_dir, "ports.json");
        doc = ports != NULL ? json_loads(ports, 0, NULL) : NULL;
        port = json_integer_value(json_object_get(doc, "admin"));
        free(ports);
        json_decref(doc);
        if (port <= 0) {
            fprintf(stderr, "wapctl: no admin port in %s/ports.json (is wapd running?)\n", o->state_dir);
            return WAPCTL_CONNECT;
        }
        if (asprintf(&c->url, "%s://127.0.0.1:%lld", o->cacert != NULL ? "https" : "http",
                     (long long) port) < 0)
            c->url = NULL;
    } else {
        c->url = strdup(getenv("WAPD_URL") != NULL ? getenv("WAPD_URL") : DEFAULT_URL);
    }
    if (o->token != NULL)
        c->token = strdup(o->token);
    else if (o->state_dir != NULL && (c->token = file_read(o->state_dir, "admin.token")) != NULL)
        ;
    else if (getenv("WAPD_TOKEN") != NULL)
        c->token = strdup(getenv("WAPD_TOKEN"));
    if (c->url == NULL)
        return WAPCTL_CONNECT;
    while (strlen(c->url) > 0 && c->url[strlen(c->url) - 1] == '/')
        c->url[strlen(c->url) - 1] = '\0';
    if (c->token == NULL || c->token[0] == '\0') {
        fprintf(stderr, "wapctl: no token: give --token, WAPD_TOKEN or --state-dir\n");
        return WAPCTL_USAGE;
    }
    return WAPCTL_OK;
}

static const wapctl_verb_t *
verb_find(const wapctl_noun_t *noun, const char *name)
{
    const wapctl_verb_t *v;

    for (v = noun->verbs; v != NULL && v->name != NULL; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    return NULL;
}

/* Runs noun's verb (or the noun itself) on rest[0..nrest). */
static int
dispatch(const wapctl_t *c, const wapctl_noun_t *noun, int nrest, char **rest)
{
    const wapctl_verb_t *verb;

    if (noun->run != NULL)
        return noun->run(c, noun, nrest, rest);
    if (nrest == 0) {
        fprintf(stderr, "wapctl %s: a verb is missing\n\n", noun->name);
        wapctl_noun_help(noun, stderr);
        return WAPCTL_USAGE;
    }
    verb = verb_find(noun, rest[0]);
    if (verb == NULL) {
        fprintf(stderr, "wapctl %s: unknown verb '%s'\n\n", noun->name, rest[0]);
        wapctl_noun_help(noun, stderr);
        return WAPCTL_USAGE;
    }
    return wapctl_verb_run(c, noun, verb, nrest - 1, rest + 1);
}

/* Parses argv: global options, the noun, and the rest (global options taken out of it). */
static int
args_split(int argc, char **argv, options_t *o, const wapctl_noun_t **noun, char **rest, int *nrest)
{
    int i, r;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        r = global_take(o, argc, argv, &i, true);
        if (r < 0)
            return WAPCTL_USAGE;
        if (r == 0 && strcmp(argv[i], "--version") == 0) {
            o->version = true;
        } else if (r == 0) {
            fprintf(stderr, "wapctl: unknown option %s\n", argv[i]);
            return WAPCTL_USAGE;
        }
    }
    if (i < argc && (*noun = wapctl_noun_find(argv[i])) == NULL) {
        fprintf(stderr, "wapctl: unknown noun '%s' (see wapctl --help)\n", argv[i]);
        return WAPCTL_USAGE;
    }
    for (i++; i < argc; i++) {
        r = global_take(o, argc, argv, &i, false);
        if (r < 0)
            return WAPCTL_USAGE;
        if (r == 0)
            rest[(*nrest)++] = argv[i];
    }
    return WAPCTL_OK;
}

static int
run(int argc, char **argv, char **rest)
{
    options_t o = {0};
    const wapctl_noun_t *noun = NULL;
    wapctl_t c = {0};
    int nrest = 0, rc;

    rc = args_split(argc, argv, &o, &noun, rest, &nrest);
    if (rc != WAPCTL_OK)
        return rc;
    if (o.version) {
        printf("wapctl %s\n", WAPD_VERSION);
        return WAPCTL_OK;
    }
    if (o.help || noun == NULL) {
        if (noun != NULL)
            wapctl_noun_help(noun, stdout);
        else
            usage(o.help ? stdout : stderr);
        return o.help ? WAPCTL_OK : WAPCTL_USAGE;
    }
    if (o.output != NULL && strcmp(o.output, "table") != 0 && strcmp(o.output, "json") != 0) {
        fprintf(stderr, "wapctl: -o takes table or json, not '%s'\n", o.output);
        return WAPCTL_USAGE;
    }
    c.output = o.output != NULL && strcmp(o.output, "json") == 0 ? WAPCTL_OUT_JSON : WAPCTL_OUT_TABLE;
    c.wait = o.wait;
    c.cacert = o.cacert != NULL ? strdup(o.cacert) : NULL;
    rc = target_fill(&o, &c);
    if (rc == WAPCTL_OK)
        rc = dispatch(&c, noun, nrest, rest);
    free(c.url);
    free(c.token);
    free(c.cacert);
    return rc;
}

int
main(int argc, char **argv)
{
    char **rest = calloc((size_t) argc + 1, sizeof(*rest));
    int rc;

    if (rest == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "wapctl: cannot start\n");
        free(rest);
        return WAPCTL_CONNECT;
    }
    rc = run(argc, argv, rest);
    if (fflush(stdout) != 0 && rc == WAPCTL_OK) {
        perror("wapctl: stdout");
        rc = WAPCTL_API;
    }
    curl_global_cleanup();
    free(rest);
    return rc;
}
