"""docs/openapi.yaml and the daemon agree: the same routes, each served, and real answers
that fit the documented schemas and statuses."""

import os
import re
import unittest
import urllib.parse

import yaml

from ottbox import REPO_ROOT, BoxTestCase

SPEC_PATH = os.path.join(REPO_ROOT, "docs", "openapi.yaml")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Placeholders for path parameters: names and ids that no user or key has.
PLACEHOLDERS = {"name": "no-such-user", "id": "0123456789abcdef"}


def load_spec():
    if not os.path.exists(SPEC_PATH):
        raise AssertionError("docs/openapi.yaml does not exist: the API reference must list "
                             "every route of `ottboxd routes`")
    with open(SPEC_PATH, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise AssertionError("docs/openapi.yaml has no `paths` mapping")
    return spec


def base_path(spec):
    """The path part of the first server URL ("/" or "" when none), which the paths extend."""
    servers = spec.get("servers") or [{"url": "/"}]
    path = urllib.parse.urlparse(servers[0].get("url", "/")).path
    return path.rstrip("/")


def spec_routes(spec):
    """{"METHOD /path": operation} for every operation under paths."""
    prefix = base_path(spec)
    routes = {}
    for path, item in spec["paths"].items():
        for method, operation in (item or {}).items():
            if method.lower() in HTTP_METHODS:
                routes["%s %s%s" % (method.upper(), prefix, path)] = operation
    return routes


def fill(path):
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "placeholder"), path)


class SchemaError(AssertionError):
    pass


def p256_public_pem():
    """A new P-256 public key in PEM, as a control plane's bundle key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Validator:
    """Enough of OpenAPI 3.0 schema validation for this document: $ref, type, nullable,
    enum, properties, required, additionalProperties, items, string and number bounds,
    pattern, allOf/anyOf/oneOf."""

    def __init__(self, spec):
        self.spec = spec

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise SchemaError("only local $ref is supported: %s" % ref)
            node = self.spec
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 50:
                raise SchemaError("$ref loop at %s" % ref)
        return node

    def check(self, value, schema, where="$"):
        schema = self.resolve(schema)
        if not schema:
            return
        if value is None:
            if schema.get("nullable") or schema.get("type") is None and "enum" not in schema:
                return
            raise SchemaError("%s: null where the schema does not allow it" % where)
        for sub in schema.get("allOf", []):
            self.check(value, sub, where)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                passed = 0
                for sub in schema[key]:
                    try:
                        self.check(value, sub, where)
                        passed += 1
                    except SchemaError:
                        pass
                if passed == 0 or (key == "oneOf" and passed > 1):
                    raise SchemaError("%s: matches %d of the %s schemas" % (where, passed, key))
        kind = schema.get("type")
        checks = {
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
        }
        if kind is not None and not checks[kind](value):
            raise SchemaError("%s: %r is not of type %s" % (where, value, kind))
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError("%s: %r is not one of %r" % (where, value, schema["enum"]))
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                raise SchemaError("%s: %r is shorter than %d" % (where, value,
                                                                 schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise SchemaError("%s: %r is longer than %d" % (where, value,
                                                                schema["maxLength"]))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                raise SchemaError("%s: %r does not match %s" % (where, value,
                                                                schema["pattern"]))
            if schema.get("format") == "date-time" and not re.match(
                    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
                raise SchemaError("%s: %r is not a date-time" % (where, value))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                raise SchemaError("%s: %r is below %r" % (where, value, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                raise SchemaError("%s: %r is above %r" % (where, value, schema["maximum"]))
        if isinstance(value, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    raise SchemaError("%s: required member %r is missing" % (where, name))
            extra = schema.get("additionalProperties", True)
            for name, member in value.items():
                if name in props:
                    self.check(member, props[name], "%s.%s" % (where, name))
                elif extra is False:
                    raise SchemaError("%s: member %r is not in the schema" % (where, name))
                elif isinstance(extra, dict):
                    self.check(member, extra, "%s.%s" % (where, name))
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.check(item, schema["items"], "%s[%d]" % (where, i))


class OpenApiTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        out = cls.box.cli_ok("routes").stdout
        cls.daemon_routes = {line.strip() for line in out.splitlines() if line.strip()}
        cls.key = cls.box.create_apikey("openapi", "admin")

    def setUp(self):
        self.spec = load_spec()
        self.routes = spec_routes(self.spec)
        self.validator = Validator(self.spec)

    def test_spec_is_openapi_3(self):
        self.assertRegex(str(self.spec.get("openapi", "")), r"^3\.")
        self.assertIn("version", self.spec.get("info", {}))

    def test_spec_lists_exactly_the_daemons_routes(self):
        documented = set(self.routes)
        self.assertTrue(self.daemon_routes, "`ottboxd routes` printed nothing")
        missing = sorted(self.daemon_routes - documented)
        extra = sorted(documented - self.daemon_routes)
        self.assertEqual((missing, extra), ([], []),
                         "served but not documented: %s; documented but not served: %s"
                         % (missing, extra))

    def test_every_route_is_served(self):
        client = self.box.client(api_key=self.key)
        for route in sorted(self.daemon_routes | set(self.routes)):
            method, path = route.split(" ", 1)
            if (self.routes.get(route) or {}).get("x-event-stream"):
                continue  # an answer that never ends: test_events reads it
            with self.subTest(route=route):
                body = {} if method in ("POST", "PATCH", "PUT") else None
                r = client.request(method, fill(path), body=body)
                self.assertLess(r.status, 500, r)
                self.assertNotEqual(r.status, 405, "%s: %r" % (route, r))
                if r.status == 404:
                    message = (r.json or {}).get("error", {}).get("message", "")
                    self.assertNotIn("no such endpoint", message,
                                     "%s is not served: %r" % (route, r))

    def test_every_operation_documents_its_answers(self):
        for route, operation in sorted(self.routes.items()):
            with self.subTest(route=route):
                responses = operation.get("responses") or {}
                self.assertTrue([s for s in responses if str(s).startswith("2")],
                                "%s documents no success answer" % route)

    def operation(self, method, path):
        route = "%s %s" % (method, path)
        self.assertIn(route, self.routes, "%s is not in docs/openapi.yaml" % route)
        return self.routes[route]

    def check_answer(self, method, path, r):
        """The answer's status is documented for the operation and its body fits the schema
        documented for that status."""
        responses = self.operation(method, path).get("responses") or {}
        documented = {str(s) for s in responses}
        status = str(r.status)
        self.assertTrue(status in documented or "%sXX" % status[0] in documented
                        or "default" in documented,
                        "%s %s answered %s, which it does not document (%s)"
                        % (method, path, status, sorted(documented)))
        response = self.validator.resolve(responses.get(status) or
                                          responses.get("%sXX" % status[0]) or
                                          responses.get("default"))
        content = (response or {}).get("content") or {}
        if r.status == 204:
            self.assertEqual(r.raw, b"")
            return
        schema = (content.get("application/json") or {}).get("schema")
        self.assertIsNotNone(schema, "%s %s %s documents no JSON body" % (method, path,
                                                                           status))
        try:
            self.validator.check(r.json, schema)
        except SchemaError as e:
            self.fail("%s %s answered %s with a body that does not fit the document: %s\n%r"
                      % (method, path, status, e, r))

    def test_answers_fit_the_documented_schemas(self):
        admin = self.admin
        key = self.box.client(api_key=self.key)
        cases = [
            ("GET", "/api/v1/health", self.box.client(), None, None),
            ("GET", "/api/v1/system", admin, None, None),
            ("GET", "/api/v1/hardware", key, None, None),
            ("GET", "/api/v1/hardware", admin, "/api/v1/hardware?refresh=1", None),
            ("GET", "/api/v1/settings", admin, None, None),
            ("PATCH", "/api/v1/settings", admin, None, {"box_name": "documented"}),
            ("GET", "/api/v1/settings/schema", key, None, None),
            ("GET", "/api/v1/session", admin, None, None),
            ("GET", "/api/v1/session", key, None, None),
            ("POST", "/api/v1/users", admin, None,
             {"name": "doc-user", "role": "operator", "password": "documented passphrase"}),
            ("GET", "/api/v1/users", admin, None, None),
            ("GET", "/api/v1/users/{name}", admin, "/api/v1/users/doc-user", None),
            ("PATCH", "/api/v1/users/{name}", admin, "/api/v1/users/doc-user",
             {"role": "viewer"}),
            ("POST", "/api/v1/apikeys", admin, None, {"name": "doc-key", "role": "viewer"}),
            ("GET", "/api/v1/apikeys", key, None, None),
            ("GET", "/api/v1/audit", admin, "/api/v1/audit?limit=1000", None),
            ("POST", "/api/v1/session", self.box.client(), None,
             {"name": "doc-user", "password": "documented passphrase"}),
            ("DELETE", "/api/v1/users/{name}", admin, "/api/v1/users/doc-user", None),
            ("GET", "/api/v1/access/policy", key, None, None),
            ("PUT", "/api/v1/access/policy", admin, None,
             {"allowed_networks": ["10.0.0.0/8"], "token_transport": "cookie"}),
            ("POST", "/api/v1/access/keys", admin, None, {"id": "doc-key"}),
            ("POST", "/api/v1/access/keys", admin, None,
             {"id": "doc-imported", "secret_hex": "00112233445566778899aabbccddeeff"}),
            ("GET", "/api/v1/access/keys", admin, None, None),
            ("PATCH", "/api/v1/access/keys/{id}", admin, "/api/v1/access/keys/doc-imported",
             {"signing": True}),
            ("DELETE", "/api/v1/access/keys/{id}", admin, "/api/v1/access/keys/doc-key", None),
            ("POST", "/api/v1/access/revocations", admin, None,
             {"viewer_id": "doc-viewer", "reason": "documented"}),
            ("GET", "/api/v1/access/revocations", key, None, None),
            ("GET", "/api/v1/access/stats", key, None, None),
            ("GET", "/api/v1/events", key, None, None),
            ("GET", "/api/v1/events", admin, "/api/v1/events?kind=access.&level=info&limit=3",
             None),
            ("GET", "/api/v1/events", admin, "/api/v1/events?after=0", None),
            ("GET", "/api/v1/cloud", key, None, None),
            ("POST", "/api/v1/cloud/enroll", admin, None, {"bundle_keys": [p256_public_pem()]}),
            ("GET", "/api/v1/cloud", admin, None, None),
            ("GET", "/api/v1/cloud/bundles", key, None, None),
        ]
        for method, path, client, real_path, body in cases:
            with self.subTest(route="%s %s" % (method, path)):
                r = client.request(method, real_path or path, body=body)
                self.assertLess(r.status, 300, r)
                self.check_answer(method, path, r)

    def test_error_answers_fit_the_documented_schemas(self):
        admin = self.admin
        viewer = self.box.client(api_key=self.box.create_apikey("doc-viewer", "viewer"))
        anonymous = self.box.client()
        cases = [
            ("GET", "/api/v1/system", anonymous, None, None, 401),
            ("PATCH", "/api/v1/settings", viewer, None, {"box_name": "x"}, 403),
            ("PATCH", "/api/v1/settings", admin, None, {"box_name": ""}, 400),
            ("PATCH", "/api/v1/settings", admin, None, {"nope": 1}, 400),
            ("GET", "/api/v1/users/{name}", admin, "/api/v1/users/no-such-user", None, 404),
            ("DELETE", "/api/v1/apikeys/{id}", admin, "/api/v1/apikeys/0123456789abcdef",
             None, 404),
            ("DELETE", "/api/v1/users/{name}", admin, "/api/v1/users/admin", None, 409),
            ("POST", "/api/v1/users", admin, None,
             {"name": "admin", "role": "admin", "password": "documented passphrase"}, 409),
            ("POST", "/api/v1/session", anonymous, None,
             {"name": "admin", "password": "not the password"}, 401),
            ("GET", "/api/v1/audit", admin, "/api/v1/audit?limit=0", None, 400),
            ("GET", "/api/v1/hardware", admin, "/api/v1/hardware?refresh=yes", None, 400),
            ("PUT", "/api/v1/access/policy", admin, None, {"allowed_networks": ["nope"]}, 400),
            ("PUT", "/api/v1/access/policy", viewer, None, {}, 403),
            ("POST", "/api/v1/access/keys", admin, None, {"id": "k", "secret_hex": "zz"}, 400),
            ("DELETE", "/api/v1/access/keys/{id}", admin, "/api/v1/access/keys/none", None,
             404),
            ("POST", "/api/v1/playback-tokens", admin, None,
             {"path": "/live/none/master.m3u8"}, 400),
            ("POST", "/api/v1/access/revocations", admin, None, {}, 400),
            ("DELETE", "/api/v1/access/revocations/{id}", admin,
             "/api/v1/access/revocations/999", None, 404),
            ("GET", "/api/v1/events", admin, "/api/v1/events?level=loud", None, 400),
            ("GET", "/api/v1/events", admin, "/api/v1/events?before=5&after=2", None, 400),
            ("GET", "/api/v1/events", anonymous, None, None, 401),
            ("GET", "/api/v1/events/stream", admin, "/api/v1/events/stream?stats=61", None,
             400),
            ("POST", "/api/v1/cloud/enroll", admin, None, {"url": "ftp://x"}, 400),
            ("POST", "/api/v1/cloud/bundles", admin, None, {"jws": "not.a.bundle"}, 422),
            ("POST", "/api/v1/cloud/bundles", admin, None, {"bundle": "x"}, 400),
            ("POST", "/api/v1/cloud/sync", viewer, None, None, 403),
        ]
        for method, path, client, real_path, body, status in cases:
            with self.subTest(route="%s %s -> %d" % (method, path, status)):
                r = client.request(method, real_path or path, body=body)
                self.assertEqual(r.status, status, r)
                self.check_answer(method, path, r)

    def test_documented_roles_match_the_daemon(self):
        keys = {role: self.box.client(api_key=self.box.create_apikey("doc-" + role, role))
                for role in ("viewer", "operator", "fleet")}
        weaker_roles = {"operator": ["viewer"], "fleet": ["viewer", "operator"],
                        "admin": ["viewer", "operator", "fleet"]}
        for route, operation in sorted(self.routes.items()):
            role = operation.get("x-required-role")
            if role not in weaker_roles or operation.get("x-session-only"):
                continue
            method, path = route.split(" ", 1)
            weaker = weaker_roles[role]
            for name in weaker:
                with self.subTest(route=route, role=name):
                    body = {} if method in ("POST", "PATCH", "PUT") else None
                    r = keys[name].request(method, fill(path), body=body)
                    self.assertEqual(r.status, 403, "%s documents role %s but a %s key got "
                                     "%r" % (route, role, name, r))


if __name__ == "__main__":
    unittest.main()
