#!/usr/bin/env python3
"""Write one OpenAPI document per listener from schemas/openapi.yaml.

schemas/openapi.yaml is the one complete document: each path names the listener that serves it in its own
`servers` (the admin listener, the tenant listener, or both for /healthz). This script writes
OUTDIR/openapi-admin.yaml and OUTDIR/openapi-tenant.yaml, each holding only the paths its listener serves,
that listener as the document's only server (so that generated clients need no per-path server), and only
the components those paths reference, directly or through other components. Tags no path of a document uses
are left out of it. A path without `servers` is placed by its prefix (/v1/admin/, /usage, /readyz and /metrics
on the admin listener, the rest on the tenant one) with a warning, so that the build goes on; the guide's test
(tests/e2e/test_guide.py) fails until the path names its listener.

Usage: split-openapi.py SPEC OUTDIR
"""
import copy
import os
import sys

import yaml

LISTENERS = {"admin": "admin listener", "tenant": "tenant listener"}
WARNED = set()  # the paths without servers already warned about


class NoAliasDumper(yaml.SafeDumper):
    """Writes shared objects out in full: the derived documents hold no YAML anchors."""

    def ignore_aliases(self, data):
        return True


def refs_in(node, out):
    """Adds to out every '#/components/...' reference under node, as (section, name)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            parts = ref[len("#/components/"):].split("/")
            out.add((parts[0], parts[1]))
        for value in node.values():
            refs_in(value, out)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, out)


def tags_in(paths):
    tags = set()
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict):
                tags.update(op.get("tags", []))
    return tags


def listener_of(server):
    for name, description in LISTENERS.items():
        if server.get("description") == description:
            return name
    raise SystemExit("split-openapi: a server that is neither listener: %r" % server)


def by_prefix(spec, template):
    """The servers of a path that names none, from its prefix and the document's top-level servers."""
    admin = template.startswith("/v1/admin/") or template in ("/usage", "/readyz", "/metrics")
    want = LISTENERS["admin" if admin else "tenant"]
    if template not in WARNED:
        WARNED.add(template)
        print("split-openapi: warning: path %s names no servers; taken as served by the %s" % (template, want),
              file=sys.stderr)
    return [s for s in spec.get("servers", []) if s.get("description") == want]


def derive(spec, listener):
    doc = copy.deepcopy(spec)
    server = None
    paths = {}
    for template, item in spec["paths"].items():
        servers = item.get("servers") or by_prefix(spec, template)
        for s in servers:
            if listener_of(s) == listener:
                server = s
                kept = copy.deepcopy(item)
                kept.pop("servers", None)
                paths[template] = kept
    if server is None:
        raise SystemExit("split-openapi: no path is served by the %s" % LISTENERS[listener])
    doc["servers"] = [copy.deepcopy(server)]
    doc["paths"] = paths

    # Components reachable from the kept paths and from the document-wide security requirement.
    components = spec.get("components", {})
    wanted = set()
    refs_in(paths, wanted)
    for requirement in spec.get("security", []):
        wanted.update(("securitySchemes", name) for name in requirement)
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict):
                for requirement in op.get("security", []):
                    wanted.update(("securitySchemes", name) for name in requirement)
    todo = list(wanted)
    while todo:
        section, name = todo.pop()
        found = set()
        refs_in(components.get(section, {}).get(name), found)
        for ref in found - wanted:
            wanted.add(ref)
            todo.append(ref)
    kept_components = {}
    for section, entries in components.items():
        kept = {name: value for name, value in entries.items() if (section, name) in wanted}
        if kept:
            kept_components[section] = kept
    doc["components"] = kept_components

    used_tags = tags_in(paths)
    if "tags" in doc:
        doc["tags"] = [t for t in doc["tags"] if t["name"] in used_tags]
    doc["info"]["title"] = "%s (%s)" % (spec["info"]["title"], LISTENERS[listener])
    return doc


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: split-openapi.py SPEC OUTDIR")
    with open(sys.argv[1]) as f:
        spec = yaml.safe_load(f)
    os.makedirs(sys.argv[2], exist_ok=True)
    for listener in LISTENERS:
        doc = derive(spec, listener)
        out = os.path.join(sys.argv[2], "openapi-%s.yaml" % listener)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write("# Generated from schemas/openapi.yaml by tools/split-openapi.py: do not edit.\n")
            yaml.dump(doc, f, Dumper=NoAliasDumper, sort_keys=False, allow_unicode=True, width=110)
        os.replace(tmp, out)


if __name__ == "__main__":
    main()
