"""Validates live exchanges with wapd against schemas/openapi.yaml with a real JSON Schema validator.

The document is loaded once. An exchange is matched to its operation by listener ("A" admin, "T" tenant),
method and concrete path (a template segment `{x}` matches any one segment; a literal segment wins over a
parameter, as in the router's table). Then:
- the status must be one the operation lists (or its `default`); a path the listener does not serve, or a
  method the path lacks, must be an error answer in the shape of `Error`;
- the body must be of a content type the response lists and satisfy its schema (Draft 2020-12, `$ref`s
  resolved over the whole document, `format` checked for date-time, uuid and email);
- the headers the response lists must be present where they are required: those marked `required`,
  Location and Retry-After on a 202, and ETag on a GET;
- the request body of an accepted exchange (2xx) must satisfy the operation's request schema, and an
  operation without a request body must not have been sent a non-empty one.

check() returns a list of problems (empty when the exchange conforms). The harness calls it on every
exchange and fails the test on a problem; WAPD_OAS=off turns it off, WAPD_OAS=collect only records problems
(in WAPD_OAS_LOG). Works with jsonschema 4.10 (Debian's, RefResolver) and later (referencing registries)."""
import json
import os
import re
from urllib.parse import quote, urlsplit

import jsonschema
import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SPEC_PATH = os.path.join(ROOT, "schemas", "openapi.yaml")
BASE = "http://wapd.invalid/openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")
ADMIN_ONLY = ("/readyz", "/metrics", "/usage")
BOTH_LISTENERS = ("/healthz",)
# Answers the daemon gives before or instead of routing (API.md "Conventions"): they carry an Error body
# whatever the path. 401 comes first, then 404 for an unknown path, 405, 413/414/415, 429, 503.
GENERIC_ERRORS = {401, 404, 405, 413, 414, 415, 429, 503}

_state = {}


def spec():
    """The document, parsed once."""
    return _load()


def _load():
    if "spec" not in _state:
        with open(SPEC_PATH) as f:
            spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        _state["spec"] = spec
        _state["routes"] = _routes(spec)
        _state["validators"] = {}
        _state["checker"] = _format_checker()
    return _state["spec"]


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())
    date_time = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    uuid_re = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

    @checker.checks("date-time")
    def _dt(v):
        return not isinstance(v, str) or bool(date_time.match(v))

    @checker.checks("uuid")
    def _uuid(v):
        return not isinstance(v, str) or bool(uuid_re.match(v))

    @checker.checks("email")
    def _email(v):
        return not isinstance(v, str) or "@" in v
    return checker


def _routes(spec):
    """[(regex, template)], the templates with more literal segments first."""
    out = []
    for template in spec["paths"]:
        segs = template.split("/")
        rx = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segs)
        literal = sum(1 for s in segs if not s.startswith("{"))
        out.append((literal, len(segs), re.compile("^" + rx + "$"), template))
    out.sort(key=lambda r: (-r[1], -r[0]))
    return [(rx, t) for _, _, rx, t in out]


def serves(listener, template):
    """Whether the listener ("A" or "T") serves this spec path."""
    if template in BOTH_LISTENERS:
        return True
    admin = template.startswith("/v1/admin/") or template in ADMIN_ONLY
    return admin == (listener == "A")


def match(listener, path):
    """The spec's template for a concrete path on a listener, or None."""
    _load()
    path = urlsplit(path).path
    for rx, template in _state["routes"]:
        if rx.match(path) and serves(listener, template):
            return template
    return None


def _deref(obj):
    """An OpenAPI object with its `$ref` (to a response, parameter, ...) followed."""
    spec = _load()
    while isinstance(obj, dict) and "$ref" in obj:
        node = spec
        for part in obj["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def _pointer_of(parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validator(parts):
    """A cached validator for the schema at the JSON pointer made of parts (in the spec's document)."""
    spec = _load()
    pointer = _pointer_of(parts)
    v = _state["validators"].get(pointer)
    if v is None:
        root = {"$ref": BASE + "#" + quote(pointer, safe="/~")}
        cls = jsonschema.Draft202012Validator
        try:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012
            registry = Registry().with_resource(BASE, Resource.from_contents(spec, DRAFT202012))
            v = cls(root, registry=registry, format_checker=_state["checker"])
        except ImportError:
            resolver = jsonschema.RefResolver(BASE, spec)
            v = cls(root, resolver=resolver, format_checker=_state["checker"])
        _state["validators"][pointer] = v
    return v


def _schema_name(parts):
    """How the document names the schema at parts: the component it refers to, or its JSON pointer."""
    node = _load()
    for p in parts:
        node = node[p]
    ref = node.get("$ref", "") if isinstance(node, dict) else ""
    return ref[2:] if ref.startswith("#/") else _pointer_of(parts)[1:]


def _schema_problems(parts, instance, what):
    out = []
    name = _schema_name(parts)
    for e in sorted(validator(parts).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "$" + "".join("[%d]" % p if isinstance(p, int) else "." + str(p) for p in e.absolute_path)
        out.append("%s at %s: %s (schema %s, at %s)" % (what, where, e.message[:300], name,
                                                          "/".join(str(p) for p in e.absolute_schema_path)))
        if len(out) >= 8:
            break
    return out


def _response_parts(template, method, status):
    """(pointer parts of the response object, response object) for a status, following one $ref."""
    spec = _load()
    responses = spec["paths"][template][method]["responses"]
    key = str(status) if str(status) in responses else ("default" if "default" in responses else None)
    if key is None:
        return None, None
    resp = responses[key]
    parts = ["paths", template, method, "responses", key]
    if "$ref" in resp:
        parts = [p.replace("~1", "/") for p in resp["$ref"][2:].split("/")]
    return parts, _deref(resp)


def _header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def _body_problems(parts, resp, headers, body):
    out = []
    content = resp.get("content") or {}
    ctype = (_header(headers, "Content-Type") or "").split(";")[0].strip()
    if not content:
        if body:
            out.append("a body where the spec documents none: %r" % body[:200])
        return out
    if ctype not in content:
        return ["content type %r, the spec lists %s" % (ctype, sorted(content))]
    if ctype != "application/json":
        return out
    try:
        instance = json.loads(body)
    except ValueError:
        return ["not JSON: %r" % body[:200]]
    if "schema" in content[ctype]:
        out += _schema_problems(parts + ["content", ctype, "schema"], instance, "response")
    return out


def check(listener, method, path, status, headers, body, request_body=None):
    """The problems of one exchange (a list of strings, empty when it conforms to the spec)."""
    spec = _load()
    m = method.lower()
    template = match(listener, path)
    error_parts = ["components", "schemas", "Error"]
    if template is None or m not in spec["paths"][template]:
        if status not in GENERIC_ERRORS:
            why = "no such path" if template is None else "the path has no " + method
            return ["status %d, but %s (only an error status fits)" % (status, why)]
        out = _schema_problems(error_parts, json.loads(body) if body else None, "error")
        if status == 405 and template is not None and not _header(headers, "Allow"):
            out.append("405 without Allow")
        return out
    parts, resp = _response_parts(template, m, status)
    if resp is None:
        return ["status %d is not among the responses the spec lists for %s %s" % (status, method, template)]
    out = _body_problems(parts, resp, headers, body)
    for name, h in (resp.get("headers") or {}).items():
        needed = _deref(h).get("required") or (status == 202 and name in ("Location", "Retry-After")) or \
            (m == "get" and name == "ETag")
        if needed and _header(headers, name) is None:
            out.append("header %s missing (the spec lists it)" % name)
    if request_body is not None and 200 <= status < 300:
        op = spec["paths"][template][m]
        rb = _deref(op.get("requestBody"))
        if not rb:
            if request_body not in ({}, None):
                out.append("request body sent to an operation that takes none")
        else:
            rparts = ["paths", template, m, "requestBody"]
            if "$ref" in op["requestBody"]:
                rparts = op["requestBody"]["$ref"][2:].split("/")
            out += _schema_problems(rparts + ["content", "application/json", "schema"], request_body,
                                    "request")
    return out


def check_schema(name, instance):
    """The problems of instance against components/schemas/<name>."""
    return _schema_problems(["components", "schemas", name], instance, name)


def describe(method, path, status, problems):
    return "%s %s answered %d against schemas/openapi.yaml:\n  %s" % (method, path, status,
                                                                       "\n  ".join(problems))


def request_schema(template, method):
    """The request body schema of an operation, or None when it takes no body."""
    rb = _deref(_load()["paths"][template][method.lower()].get("requestBody"))
    return rb["content"]["application/json"]["schema"] if rb else None


def example(schema):
    """A smallest value that satisfies schema: its required properties only, each the first enum value, the
    minimum, or a placeholder of its type and format."""
    schema = _deref(schema)
    if "allOf" in schema:
        out = {}
        for part in schema["allOf"]:
            out.update(example(part))
        return out
    if "oneOf" in schema:
        return example(schema["oneOf"][0])
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type", "object")
    t = [x for x in t if x != "null"][0] if isinstance(t, list) else t
    if t == "object":
        return {k: example(schema["properties"][k]) for k in schema.get("required", [])}
    if t == "array":
        return [example(schema["items"]) for _ in range(schema.get("minItems", 0))]
    if t == "integer":
        return schema.get("minimum", 1)
    if t == "boolean":
        return False
    fmt = schema.get("format")
    return {"uuid": "00000000-0000-4000-8000-000000000000", "email": "x@example.com",
            "uri": "http://127.0.0.1:9/x"}.get(fmt, "x" * max(1, schema.get("minLength", 1)))
