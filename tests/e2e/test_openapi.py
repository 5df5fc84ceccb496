"""schemas/openapi.yaml describes exactly the paths and methods the router serves."""
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
METHODS = ["get", "post", "put", "patch", "delete"]


def spec_operations():
    ops = set()
    path = None
    with open(os.path.join(ROOT, "schemas", "openapi.yaml")) as f:
        for line in f:
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
    with open(os.path.join(ROOT, "api", "router.c")) as f:
        text = f.read()
    for m in re.finditer(r'\{[AT], "(/[^"]*)",\s*H\(([^)]*)\)', text):
        handlers = [h.strip() for h in m.group(2).split(",")]
        for method, h in zip(METHODS, handlers):
            if h != "NULL":
                ops.add((method.upper(), m.group(1)))
    return ops


def test_spec_matches_router():
    spec, router = spec_operations(), router_operations()
    assert len(router) > 30
    assert router - spec == set(), "served but not described: %s" % sorted(router - spec)
    assert spec - router == set(), "described but not served: %s" % sorted(spec - router)
