/*
 * libvirt_xml.c: the XML the libvirt driver writes (domains, disks, volumes, wapd's metadata) and
 * the few things it reads back from libvirt's XML. No libvirt calls here.
 *
 * Invariants: every text that comes from a caller (a VM's name, a network, a MAC) is escaped; the
 * names the driver makes (volumes, target devices) are built only from a VM id and a lun, so they
 * are stable for the VM's life and a repeated create or attach finds what the first one made. The
 * metadata reader reads only what agent_libvirt__meta_format writes (as libvirt gives it back:
 * attributes in double quotes, any element prefix), not XML at large.
 *
 * What a domain cannot say: the dynamic-memory minimum (libvirt's domain has a maximum, <memory>,
 * and the startup amount, <currentMemory>; how far the balloon goes down is the guest's) and a
 * NIC's IP address (the host's network hands addresses out itself) are not written.
 */
#include "libvirt_internal.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

void
agent_libvirt__vol_name(const char *vm_id, int lun, char out[LV_VOL_MAX])
{
    assert(vm_id != NULL && lun >= -1);
    if (lun < 0)
        snprintf(out, LV_VOL_MAX, "%.*s-os.img", AGENT_ID_MAX - 1, vm_id);
    else
        snprintf(out, LV_VOL_MAX, "%.*s-lun%d.img", AGENT_ID_MAX - 1, vm_id, lun);
}

/* vda, vdb, ... vdz, vdaa, ...: libvirt's disk naming, the OS disk first. */
void
agent_libvirt__target_dev(int lun, char out[8])
{
    int idx = lun + 1, n = 0;
    char rev[4];

    assert(lun >= -1 && lun < 26 * 26);
    do {
        rev[n++] = (char) ('a' + idx % 26);
        idx = idx / 26 - 1;
    } while (idx >= 0 && n < 3);
    out[0] = 'v';
    out[1] = 'd';
    for (int i = 0; i < n; i++)
        out[2 + i] = rev[n - 1 - i];
    out[2 + n] = '\0';
}

static void
put_escaped(FILE *f, const char *s)
{
    static const char *const entity[128] = {
        ['<'] = "&lt;", ['>'] = "&gt;", ['&'] = "&amp;", ['"'] = "&quot;", ['\''] = "&apos;"};

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;
        if (c < 128 && entity[c] != NULL)
            fputs(entity[c], f);
        else
            fputc(c, f);
    }
}

/* Ends the memory stream f of *buf; the text, or NULL when out of memory. */
static char *
stream_end(FILE *f, char **buf)
{
    bool bad = ferror(f) != 0;

    if (fclose(f) != 0 || bad) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

char *
agent_libvirt__meta_format(const lv_meta_t *m, bool with_ns)
{
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);

    assert(m != NULL && m->ndisks >= 0 && m->ndisks <= AGENT_MAX_DISKS);
    if (f == NULL)
        return NULL;
    fputs("<vm ", f);
    if (with_ns)
        fputs("xmlns=\"" LV_META_NS "\" ", f);
    fputs("id=\"", f);
    put_escaped(f, m->vm_id);
    if (m->host_id[0] != '\0') {
        fputs("\" host=\"", f);
        put_escaped(f, m->host_id);
    }
    if (m->from_host[0] != '\0') {
        fputs("\" from=\"", f);
        put_escaped(f, m->from_host);
    }
    fprintf(f, "\" deallocated=\"%d\">", m->deallocated ? 1 : 0);
    for (int i = 0; i < m->ndisks; i++)
        fprintf(f, "<disk lun=\"%d\" sizeGB=\"%d\"/>", m->disks[i].lun, m->disks[i].size_gb);
    fputs("</vm>", f);
    return stream_end(f, &buf);
}

/* The value of attribute name in the element starting at elem (up to its '>'), into out; -1 if
 * none. */
static int
attr(const char *elem, const char *name, char *out, size_t cap)
{
    const char *end = strchr(elem, '>'), *p = elem, *v, *q;
    size_t nlen = strlen(name);

    while (end != NULL && (p = strstr(p, name)) != NULL && p < end) {
        if (p[-1] == ' ' && strncmp(p + nlen, "=\"", 2) == 0) {
            v = p + nlen + 2;
            q = strchr(v, '"');
            if (q == NULL || (size_t) (q - v) >= cap)
                return -1;
            memcpy(out, v, (size_t) (q - v));
            out[q - v] = '\0';
            return 0;
        }
        p += nlen;
    }
    return -1;
}

static int
attr_int(const char *elem, const char *name, int *out)
{
    char buf[16], *end;
    long v;

    if (attr(elem, name, buf, sizeof(buf)) < 0)
        return -1;
    v = strtol(buf, &end, 10);
    if (*end != '\0' || end == buf || v < -1 || v > 1 << 20)
        return -1;
    *out = (int) v;
    return 0;
}

int
agent_libvirt__meta_parse(const char *xml, lv_meta_t *m)
{
    const char *vm = strstr(xml, "vm "), *p;
    int dealloc = 0;

    memset(m, 0, sizeof(*m));
    if (vm == NULL || attr(vm, "id", m->vm_id, sizeof(m->vm_id)) < 0 ||
        attr_int(vm, "deallocated", &dealloc) < 0)
        return -1;
    /* optional: metadata written before it named a host has none */
    if (attr(vm, "host", m->host_id, sizeof(m->host_id)) < 0)
        m->host_id[0] = '\0';
    if (attr(vm, "from", m->from_host, sizeof(m->from_host)) < 0)
        m->from_host[0] = '\0';
    m->deallocated = dealloc != 0;
    for (p = strstr(vm, "disk "); p != NULL; p = strstr(p + 5, "disk ")) {
        if (m->ndisks == AGENT_MAX_DISKS || attr_int(p, "lun", &m->disks[m->ndisks].lun) < 0 ||
            attr_int(p, "sizeGB", &m->disks[m->ndisks].size_gb) < 0)
            return -1;
        m->ndisks++;
    }
    return 0;
}

/* before, then text escaped, then after. */
static char *
wrap_escaped(const char *before, const char *text, const char *after)
{
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    fputs(before, f);
    put_escaped(f, text);
    fputs(after, f);
    return stream_end(f, &buf);
}

char *
agent_libvirt__volume_xml(const char *name, int size_gb)
{
    char after[128];

    /* thin: the pool holds what is written, not the size */
    snprintf(after, sizeof(after),
             "</name><capacity unit='G'>%d</capacity><allocation>0</allocation></volume>", size_gb);
    return wrap_escaped("<volume><name>", name, after);
}

static const char *
cache_mode(agent_caching_t c)
{
    switch (c) {
    case AGENT_CACHING_READ_ONLY:
        return "writethrough";
    case AGENT_CACHING_READ_WRITE:
        return "writeback";
    default:
        return "none";
    }
}

static void
put_disk(FILE *f, const char *pool, const char *vm_id, const agent_disk_spec_t *disk)
{
    char vol[LV_VOL_MAX], dev[8];

    agent_libvirt__vol_name(vm_id, disk->lun, vol);
    agent_libvirt__target_dev(disk->lun, dev);
    fprintf(f, "<disk type='volume' device='disk'><driver name='qemu' cache='%s'/><source pool='",
            cache_mode(disk->caching));
    put_escaped(f, pool);
    fputs("' volume='", f);
    put_escaped(f, vol);
    fprintf(f, "'/><target dev='%s' bus='virtio'/></disk>", dev);
}

char *
agent_libvirt__disk_xml(const char *pool, const char *vm_id, const agent_disk_spec_t *disk)
{
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    put_disk(f, pool, vm_id, disk);
    return stream_end(f, &buf);
}

char *
agent_libvirt__domain_xml(const char *type, const char *name, const agent_vm_spec_t *spec,
                          const char *pool, char (*networks)[AGENT_NAME_MAX], const lv_meta_t *m)
{
    char *buf = NULL, *meta = agent_libvirt__meta_format(m, true);
    size_t len;
    FILE *f;
    int max_mb = spec->memory_max_mb > spec->memory_mb ? spec->memory_max_mb : spec->memory_mb;

    assert(spec->vm_id != NULL && (spec->nnics == 0 || networks != NULL));
    if (meta == NULL || (f = open_memstream(&buf, &len)) == NULL) {
        free(meta);
        return NULL;
    }
    fprintf(f, "<domain type='%s'><name>", type);
    put_escaped(f, name);
    fputs("</name><uuid>", f);
    put_escaped(f, spec->vm_id);
    fprintf(f, "</uuid><metadata>%s</metadata>", meta);
    fprintf(f, "<memory unit='MiB'>%d</memory><currentMemory unit='MiB'>%d</currentMemory>", max_mb,
            spec->memory_mb);
    fprintf(f, "<vcpu>%d</vcpu><os%s><type>hvm</type></os><devices>", spec->cores,
            spec->generation == 2 ? " firmware='efi'" : "");
    for (int i = 0; i < spec->ndisks; i++)
        put_disk(f, pool, spec->vm_id, &spec->disks[i]);
    for (int i = 0; i < spec->nnics; i++) {
        fputs("<interface type='network'>", f);
        if (spec->nics[i].mac != NULL) {
            fputs("<mac address='", f);
            put_escaped(f, spec->nics[i].mac);
            fputs("'/>", f);
        }
        fputs("<source network='", f);
        put_escaped(f, networks[i]);
        fputs("'/></interface>", f);
    }
    fputs("</devices></domain>", f);
    free(meta);
    return stream_end(f, &buf);
}

/* Where the <disk> element whose target is dev starts in xml (and *end just past its </disk>), or
 * NULL. */
static const char *
find_disk(const char *xml, const char *dev, const char **end)
{
    char pat[32];
    const char *t, *start, *p;

    snprintf(pat, sizeof(pat), "dev='%s'", dev);
    for (t = strstr(xml, pat); t != NULL; t = strstr(t + 1, pat)) {
        /* the target element, inside a disk element */
        for (p = t; p > xml && *p != '<'; p--)
            ;
        if (strncmp(p, "<target ", 8) != 0)
            continue;
        start = NULL;
        for (p = t; p > xml; p--)
            if (strncmp(p, "<disk ", 6) == 0) {
                start = p;
                break;
            }
        if (start == NULL || (p = strstr(start, "</disk>")) == NULL || p < t)
            continue;
        *end = p + strlen("</disk>");
        return start;
    }
    return NULL;
}

bool
agent_libvirt__xml_has_target(const char *domain_xml, const char *dev)
{
    const char *end;

    return find_disk(domain_xml, dev, &end) != NULL;
}

/* prefix (n bytes of a), then b, then the rest of a from c. */
static char *
splice(const char *a, size_t n, const char *b, const char *c)
{
    size_t lb = strlen(b), lc = strlen(c);
    char *out = malloc(n + lb + lc + 1);

    if (out == NULL)
        return NULL;
    memcpy(out, a, n);
    memcpy(out + n, b, lb);
    memcpy(out + n + lb, c, lc + 1);
    return out;
}

char *
agent_libvirt__xml_add_disk(const char *domain_xml, const char *disk_xml)
{
    const char *at = strstr(domain_xml, "</devices>");

    if (at == NULL)
        return NULL;
    return splice(domain_xml, (size_t) (at - domain_xml), disk_xml, at);
}

char *
agent_libvirt__xml_remove_disk(const char *domain_xml, const char *dev)
{
    const char *end, *start = find_disk(domain_xml, dev, &end);

    if (start == NULL)
        return NULL;
    return splice(domain_xml, (size_t) (start - domain_xml), "", end);
}

/* A name is its own id when it fits one and is plain (a snapshot's name becomes a file name on a
 * QEMU host): letters, digits, space and "-_.[]", a letter or digit first. */
static bool
plain_id(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= AGENT_ID_MAX || !isalnum((unsigned char) name[0]))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.[]") ==
           n;
}

void
agent_libvirt__checkpoint_id(const char *name, char out[AGENT_ID_MAX])
{
    char hex[UTIL_SHA256_HEX_LEN + 1];

    assert(name != NULL);
    if (plain_id(name)) {
        snprintf(out, AGENT_ID_MAX, "%s", name);
        return;
    }
    util_sha256_hex(name, strlen(name), hex);
    snprintf(out, AGENT_ID_MAX, "cp-%.40s", hex);
}

char *
agent_libvirt__snapshot_xml(const char *id, const char *name)
{
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    fputs("<domainsnapshot><name>", f);
    put_escaped(f, id);
    fputs("</name><description>", f);
    put_escaped(f, name);
    fputs("</description></domainsnapshot>", f);
    return stream_end(f, &buf);
}

int
agent_libvirt__snapshot_description(const char *xml, char *out, size_t cap)
{
    static const char *const entity[] = {"&lt;", "<",      "&gt;", ">",      "&amp;",
                                         "&",    "&quot;", "\"",   "&apos;", "'"};
    const char *p = strstr(xml, "<description>"), *end;
    size_t n = 0;

    if (p == NULL || (end = strstr(p, "</description>")) == NULL || cap == 0)
        return -1;
    for (p += strlen("<description>"); p < end && n + 1 < cap; n++) {
        size_t e = 0;
        while (e < sizeof(entity) / sizeof(entity[0]) &&
               strncmp(p, entity[e], strlen(entity[e])) != 0)
            e += 2;
        if (e < sizeof(entity) / sizeof(entity[0])) {
            out[n] = entity[e + 1][0];
            p += strlen(entity[e]);
        } else {
            out[n] = *p++;
        }
    }
    out[n] = '\0';
    return 0;
}
