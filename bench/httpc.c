/*
 * httpc.c: the benchmark tools' keep-alive HTTP/1.1 client (see httpc.h).
 */
#include "httpc.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t
httpc_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
httpc_close(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void
httpc_free(conn_t *c)
{
    httpc_close(c);
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

conn_t
httpc_clone(const conn_t *proto)
{
    conn_t c = *proto;

    c.fd = -1;
    c.buf = NULL;
    c.cap = 0;
    c.body = NULL;
    c.body_len = 0;
    return c;
}

static int
conn_open(conn_t *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int one = 1;

    if (getaddrinfo(c->host, c->port, &hints, &res) != 0 || res == NULL)
        return -1;
    c->fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, res->ai_addr, res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        httpc_close(c);
        return -1;
    }
    freeaddrinfo(res);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

/* Makes room for want more bytes after len in the connection's buffer. */
static int
grow(conn_t *c, size_t len, size_t want)
{
    char *nb;
    size_t cap = c->cap ? c->cap : 65536;

    while (cap < len + want + 1)
        cap *= 2;
    if (cap == c->cap)
        return 0;
    if ((nb = realloc(c->buf, cap)) == NULL)
        return -1;
    c->buf = nb;
    c->cap = cap;
    return 0;
}

/* Reads one reply whole: its status, and its body at c->body (NUL-terminated). -1 when the connection
 * failed. */
static int
read_reply(conn_t *c, int *status, bool *closing)
{
    size_t len = 0, head = 0, clen = 0;
    ssize_t r;
    char *end, *h;

    assert(c != NULL && c->fd >= 0 && status != NULL && closing != NULL);
    for (;;) {
        if (grow(c, len, 16384))
            return -1;
        r = read(c->fd, c->buf + len, c->cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        len += (size_t) r;
        c->buf[len] = '\0';
        if (head == 0 && (end = strstr(c->buf, "\r\n\r\n")) != NULL) {
            head = (size_t) (end - c->buf) + 4;
            if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
                return -1;
            *closing = false;
            for (h = strstr(c->buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
                if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
                    clen = (size_t) strtoull(h + 17, NULL, 10);
                else if (strncasecmp(h + 2, "Connection: close", 17) == 0)
                    *closing = true;
            }
        }
        if (head != 0 && len >= head + clen) {
            c->body = c->buf + head;
            c->body_len = clen;
            c->body[clen] = '\0';
            return 0;
        }
    }
}

int
httpc_request(conn_t *c, const char *method, const char *path, const char *token, const char *body)
{
    char head[2048], auth[512] = "";
    int n, status = 0, attempt;
    bool closing = false;

    assert(c != NULL && method != NULL && path != NULL);
    if (token != NULL && snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token) >= (int) sizeof(auth))
        return -1;
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: %s:%s\r\n%s"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 method, path, c->host, c->port, auth, body ? strlen(body) : 0);
    if (n < 0 || (size_t) n >= sizeof(head))
        return -1;
    for (attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c))
            return -1;
        if (write_all(c->fd, head, (size_t) n) == 0 && (body == NULL || write_all(c->fd, body, strlen(body)) == 0) &&
            read_reply(c, &status, &closing) == 0) {
            if (closing)
                httpc_close(c);
            return status;
        }
        httpc_close(c);
    }
    return -1;
}

int
httpc_parse_url(conn_t *c, const char *url)
{
    const char *h = strstr(url, "://"), *colon, *slash;

    h = h ? h + 3 : url;
    colon = strchr(h, ':');
    slash = strchr(h, '/');
    if (colon == NULL || (slash && slash < colon) || (size_t) (colon - h) >= sizeof(c->host))
        return -1;
    snprintf(c->host, sizeof(c->host), "%.*s", (int) (colon - h), h);
    snprintf(c->port, sizeof(c->port), "%.*s", (int) (slash ? slash - colon - 1 : (long) strlen(colon + 1)),
             colon + 1);
    c->fd = -1;
    c->buf = NULL;
    c->cap = 0;
    return 0;
}
