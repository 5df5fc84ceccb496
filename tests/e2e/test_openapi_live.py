"""Every route of the router answers as schemas/openapi.yaml says, success and error alike.

The harness validates every exchange against the spec (oas.py); this module makes sure each (method, route)
of api/router.c is exercised at least once, whatever the other modules happen to cover: the GET of each
route on real resources, and for every method an error (401 without a token, 404 on an unknown id, 400 on
a bad body and 415 on a body of another media type where the operation takes one) and a 405 for a method
the path lacks. It also checks that the spec, read with a YAML parser, has no path or operation the router
does not serve."""
import oas
from harness import uid
from test_etags import METHODS, routes, world

# Where an unknown id goes: the last parameter of the path, except these (a known value keeps the route).
KEEP = {"{action}": "start"}
UNKNOWN = {"{lun}": "63"}


def fill(listener, pattern, ids, unknown=False):
    """pattern made concrete with real ids (the last id parameter unknown if asked)."""
    segs = pattern.split("/")
    last = max([i for i, s in enumerate(segs) if s.startswith("{") and s not in KEEP] or [-1])
    if not unknown:
        last = -1
    out = []
    for i, s in enumerate(segs):
        if i == last:
            out.append(UNKNOWN.get(s, uid()))
        elif s in KEEP:
            out.append(KEEP[s])
        elif s.startswith("{"):
            out.append(ids.get((listener, "/".join(segs[:i]))) or ids[(listener, segs[i - 1])])
        else:
            out.append(s)
    return "/".join(out)


def takes_body(pattern, method):
    return oas.request_schema(pattern, method) is not None


def valid_body(pattern, method):
    """A body of the right shape (so that only the unknown id can be refused), or None."""
    schema = oas.request_schema(pattern, method)
    return oas.example(schema) if schema is not None else None


def test_spec_serves_nothing_the_router_lacks():
    spec = oas.spec()
    table = routes()
    router = {(m, p) for (_, p), ms in table.items() for m in ms}
    described = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in oas.METHODS}
    assert len(described) > 60
    assert described - router == set(), "described but not served: %s" % sorted(described - router)
    for listener, pattern in table:
        assert oas.serves(listener, pattern), "%s is not on the listener the spec puts it on" % pattern


def test_every_route_and_its_errors(d):
    w, ids, _ = world(d)
    clients = {"A": w.a, "T": w.t}
    table = routes()
    seen = {"ok": 0, 401: 0, 404: 0, 400: 0, 415: 0, 405: 0}
    for (listener, pattern), methods in sorted(table.items()):
        c = clients[listener]
        path = fill(listener, pattern, ids)
        public = all(op.get("security") == [] for m, op in oas.spec()["paths"][pattern].items()
                     if m in oas.METHODS)
        if "GET" in methods:
            r = c.get(path)
            assert r.status == 200, (pattern, r)
            seen["ok"] += 1
        for method in sorted(methods):
            if not public:
                r = c.request(method, path, body={} if takes_body(pattern, method) else None, token="")
                assert r.status == 401, (method, pattern, r)
                seen[401] += 1
            if "{" in pattern:
                r = c.request(method, fill(listener, pattern, ids, unknown=True),
                              body=valid_body(pattern, method))
                assert r.status == 404, (method, pattern, r)
                seen[404] += 1
            if method != "GET" and takes_body(pattern, method):
                r = c.request(method, path, body={"noSuchField": [1]})
                assert r.status == 400, (method, pattern, r)
                assert r.json()["error"]["code"] in ("InvalidRequest", "InvalidJson"), (method, pattern, r)
                seen[400] += 1
                r = c.request(method, path, raw=b"{}", headers={"Content-Type": "text/plain"})
                assert r.status == 415, (method, pattern, r)
                seen[415] += 1
        lacking = [m for m in METHODS if m not in methods and m != "PUT"] or \
                  [m for m in METHODS if m not in methods]
        if lacking:
            r = c.request(lacking[0], path, body={} if lacking[0] != "GET" else None)
            assert r.status == 405, (lacking[0], pattern, r)
            assert r.header("Allow"), (pattern, r)
            seen[405] += 1
    assert seen["ok"] > 30 and seen[401] > 60 and seen[404] > 40 and seen[400] > 20 and seen[415] > 20 and \
        seen[405] > 40, seen
