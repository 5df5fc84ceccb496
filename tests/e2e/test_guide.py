"""The API guide (schemas/README.md) and the OpenAPI documents agree with the daemon.

The guide names every path of schemas/openapi.yaml, every error code of lib/err.h, every event type and every
job kind the daemon has; every path of the document names, in its `servers`, each listener the router serves
it on; and tools/split-openapi.py derives one document per listener holding exactly that listener's paths,
with every reference resolved inside it. These tests read files only; they start no daemon."""
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LISTENER = {"A": "admin listener", "T": "tenant listener"}


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def spec():
    return yaml.safe_load(read("schemas", "openapi.yaml"))


def guide():
    return read("schemas", "README.md")


def router_listeners():
    """{path: {"A", "T"}} from the route table of api/router.c."""
    out = {}
    for m in re.finditer(r'\{([AT]), "(/[^"]*)"', read("api", "router.c")):
        out.setdefault(m.group(2), set()).add(m.group(1))
    return out


def missing_from_guide(names):
    text = guide()
    return sorted(n for n in names if n not in text)


def test_guide_names_every_path():
    missing = missing_from_guide(spec()["paths"])
    assert not missing, "schemas/README.md does not name these paths: %s" % missing


def test_guide_names_every_error_code():
    codes = set(re.findall(r'X\(\w+, "(\w+)", \d+\)', read("lib", "err.h"))) - {"None"}
    assert len(codes) > 10, codes
    missing = missing_from_guide("`%s`" % c for c in codes)
    assert not missing, "schemas/README.md does not name these error codes: %s" % missing


def test_guide_names_every_event_type():
    types = spec()["components"]["schemas"]["EventType"]["enum"]
    missing = missing_from_guide("`%s`" % t for t in types)
    assert not missing, "schemas/README.md does not name these event types: %s" % missing


def test_guide_names_every_job_kind():
    kinds = set()
    for root, _, files in os.walk(os.path.join(ROOT, "lib")):
        for name in files:
            if name.endswith(".c"):
                with open(os.path.join(root, name)) as f:
                    text = f.read()
                # Each job_kind_def_t initializer (one, or an array of them): a kind is the first
                # member of a braced entry, or named by .kind.
                for m in re.finditer(r"job_kind_def_t \w+(\[\])? = \{", text):
                    block = text[m.end():text.index("};", m.end())]
                    kinds.update(re.findall(r'(?:\A|\{|\.kind\s*=)\s*"([a-z]+\.[a-zA-Z.]+)"', block))
    assert {"vm.create", "vm.stop", "plan.update", "checkpoint.prune", "snapshot.copy"} <= kinds, kinds
    missing = missing_from_guide("`%s`" % k for k in kinds)
    assert not missing, "schemas/README.md does not name these job kinds: %s" % missing


def test_every_path_names_its_listeners():
    paths = spec()["paths"]
    wrong = []
    for path, listeners in sorted(router_listeners().items()):
        if path not in paths:
            continue  # test_openapi checks that the document has every route
        named = {s.get("description") for s in paths[path].get("servers", [])}
        for listener in listeners:
            if LISTENER[listener] not in named:
                wrong.append("%s: add `servers: [*%s]`" % (path, LISTENER[listener].replace(" ", "-")))
    unnamed = [p for p, item in paths.items() if not item.get("servers")]
    assert not wrong and not unnamed, "servers missing: %s %s" % (wrong, unnamed)


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for v in node.values():
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def test_split_documents_hold_each_listener_and_resolve():
    full = spec()
    by_listener = router_listeners()
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "split-openapi.py"),
                        os.path.join(ROOT, "schemas", "openapi.yaml"), out], check=True)
        for name, code in (("admin", "A"), ("tenant", "T")):
            with open(os.path.join(out, "openapi-%s.yaml" % name)) as f:
                doc = yaml.safe_load(f)
            want = {p for p, item in full["paths"].items()
                    if LISTENER[code] in {s.get("description") for s in item["servers"]}}
            assert set(doc["paths"]) == want, (name, set(doc["paths"]) ^ want)
            served = {p for p, ls in by_listener.items() if code in ls}
            assert served <= set(doc["paths"]), (name, served - set(doc["paths"]))
            assert [s["description"] for s in doc["servers"]] == [LISTENER[code]]
            assert all("servers" not in item for item in doc["paths"].values())
            for ref in set(refs(doc)):
                node = doc
                for part in ref.lstrip("#/").split("/"):
                    assert isinstance(node, dict) and part in node, "%s: %s does not resolve" % (name, ref)
                    node = node[part]
            # Nothing is left that the listener's paths do not use.
            used = {tuple(r.split("/")[2:4]) for r in refs(doc)}
            for section, entries in doc.get("components", {}).items():
                if section == "securitySchemes":
                    continue
                for entry in entries:
                    assert (section, entry) in used, "%s: components/%s/%s unused" % (name, section, entry)
