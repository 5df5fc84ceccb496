"""schemas/openapi.yaml describes exactly the paths and methods the router serves, every event type and error
code the daemon has, and a job's Location on every 202.

The document is read as text (no YAML library is needed); the lint in `make test` checks its structure."""
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
METHODS = ["get", "post", "put", "patch", "delete"]


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def spec_operations():
    ops = set()
    path = None
    for line in read("schemas", "openapi.yaml").splitlines():
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        if re.match(r"^\S", line):
            path = None
        m = re.match(r"^    (get|post|put|patch|delete):\s*$", line)
        if m and path:
            ops.add((m.group(1).upper(), path))
    return ops


def router_operations():
    ops = set()
    for m in re.finditer(r'\{[AT], "(/[^"]*)",\s*H\(([^)]*)\)', read("api", "router.c")):
        handlers = [h.strip() for h in m.group(2).split(",")]
        for method, h in zip(METHODS, handlers):
            if h != "NULL":
                ops.add((method.upper(), m.group(1)))
    return ops


def spec_enum(schema, field=None):
    """The values of the enum of components/schemas/<schema> (of its property `field` when given)."""
    text = read("schemas", "openapi.yaml")
    start = re.search(r"^    %s:\s*$" % re.escape(schema), text, re.M)
    assert start, "no schema %s" % schema
    block = text[start.end():]
    if field:
        block = block[re.search(r"^\s+%s:\s*$" % re.escape(field), block, re.M).end():]
    m = re.search(r"enum:\s*\[([^\]]*)\]", block)
    assert m, "no enum in %s" % schema
    return {v.strip().strip("'\"") for v in m.group(1).split(",")}


def block_after(lines, i):
    """The lines under lines[i], those indented deeper than it."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    out = []
    for line in lines[i + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        out.append(line)
    return "\n".join(out)


def test_spec_matches_router():
    spec, router = spec_operations(), router_operations()
    assert len(router) > 30
    assert router - spec == set(), "served but not described: %s" % sorted(router - spec)
    assert spec - router == set(), "described but not served: %s" % sorted(spec - router)


def test_event_types_match_the_daemon():
    text = read("lib", "events.c")
    body = text[text.index("events_types[] = {"):]
    body = body[:body.index("NULL")]
    daemon = set(re.findall(r'"([^"]+)"', body))
    assert len(daemon) > 15
    spec = spec_enum("EventType")
    assert daemon - spec == set(), "raised but not described: %s" % sorted(daemon - spec)
    assert spec - daemon == set(), "described but never raised: %s" % sorted(spec - daemon)


def test_error_codes_match_the_daemon():
    daemon = set(re.findall(r'X\(\w+, "(\w+)", \d+\)', read("lib", "err.h"))) - {"None"}
    assert len(daemon) > 15
    spec = spec_enum("Error", "code")
    assert daemon - spec == set(), "answered but not described: %s" % sorted(daemon - spec)
    assert spec - daemon == set(), "described but never answered: %s" % sorted(spec - daemon)


def test_every_202_names_its_job():
    lines = read("schemas", "openapi.yaml").splitlines()
    named = {}
    for i, line in enumerate(lines):
        m = re.match(r"^    (\w+):\s*$", line)
        if m:
            named[m.group(1)] = block_after(lines, i)
    seen = 0
    for i, line in enumerate(lines):
        if not re.match(r"^\s+'202':", line):
            continue
        seen += 1
        ref = re.search(r"#/components/responses/(\w+)", line)
        block = named[ref.group(1)] if ref else block_after(lines, i)
        where = "line %d" % (i + 1)
        assert re.search(r"^\s+Location:", block, re.M), "a 202 without Location at " + where
        assert re.search(r"^\s+Retry-After:", block, re.M), "a 202 without Retry-After at " + where
    assert seen > 20
