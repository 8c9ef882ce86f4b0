"""The OpenAPI 3.1 document, generated from the route table and the pydantic models, and the
/docs page rendered from it on the server (no JavaScript, nothing fetched from a CDN).

Component schemas come from pydantic (JSON Schema 2020-12, which OpenAPI 3.1 uses as is);
the command routes are expanded to one path per OCPP command, whose request and response
schemas are the `ocpp` library's OCPP 1.6 JSON schemas (the ones the central validates with).
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import TypeAdapter

from chargekit.central.ocpp.commands import COMMANDS

from . import schemas as s
from .commands import COMMAND_PATH
from .errors import STATUS_TEXT
from .operations import Operation

REF = "#/components/schemas/{model}"
_CONVERTOR = re.compile(r"\{(\w+)(?::\w+)?\}")
_BEARER = "bearerAuth"


@dataclass(frozen=True, slots=True)
class PlainRoute:
    """A route outside /api/v1 (health, metrics, the document itself), for the document."""

    method: str
    path: str
    summary: str
    name: str
    media_type: str
    schema: Any = None  # a pydantic type (JSON answers) or None (text/HTML)
    statuses: tuple[int, ...] = (200,)
    description: str = ""


def openapi_path(template: str) -> str:
    """Starlette's ``{idTag:path}`` as OpenAPI's ``{idTag}``."""
    return _CONVERTOR.sub(r"{\1}", template)


@cache
def ocpp_schema(name: str) -> dict[str, Any]:
    """The `ocpp` library's JSON schema of an OCPP 1.6 message (``RemoteStartTransaction``,
    ``RemoteStartTransactionResponse``), without the draft-04 ``$schema`` marker."""
    text = resources.files("ocpp.v16").joinpath("schemas", f"{name}.json").read_text()
    schema = json.loads(text)
    schema.pop("$schema", None)
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"const": True}, "data": data},
    }


def _parameters(model: Any, where: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        options = prop.get("anyOf", ())
        if len(options) == 2 and {"type": "null"} in options:  # a parameter is never null
            rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            prop = {**next(o for o in options if o != {"type": "null"}), **rest}
        param: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if "description" in prop:
            param["description"] = prop.pop("description")
        params.append(param)
    return params


def _error_statuses(op: Operation) -> list[int]:
    statuses = {401, 403, 500, 503, *op.errors}
    if op.path_model or op.query or op.body:
        statuses.add(422)
    if op.body:
        statuses.update((400, 413, 415))
    return sorted(statuses)


class _Schemas:
    """Collects the pydantic types used, then has pydantic generate them together (shared
    components once, $refs between them)."""

    def __init__(self) -> None:
        self._adapters: dict[tuple[str, Any], TypeAdapter[Any]] = {}

    def use(self, kind: Any, mode: str) -> tuple[str, Any]:
        """The key of `kind`'s schema in `generate()`'s mapping."""
        key = (repr(kind), mode)
        self._adapters.setdefault(key, TypeAdapter(kind))
        return key

    def generate(self) -> tuple[dict[tuple[str, Any], dict[str, Any]], dict[str, Any]]:
        mapping, defs = TypeAdapter.json_schemas(
            [(rep, mode, adapter) for (rep, mode), adapter in self._adapters.items()],
            by_alias=True,
            ref_template=REF,
        )
        return mapping, defs.get("$defs", {})


def build_document(
    operations: Iterable[Operation],
    plain_routes: Iterable[PlainRoute] = (),
    *,
    prefix: str = "/api/v1",
    title: str = "ChargeKit central",
    version: str = "0",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes."""
    operations = list(operations)
    plain_routes = list(plain_routes)
    schemas = _Schemas()
    error_key = schemas.use(s.ErrorEnvelope, "serialization")
    keys: dict[tuple[str, str], tuple[Any, Any]] = {}
    for op in operations:
        body = None
        if op.body is not None and op.path != COMMAND_PATH:  # commands: the OCPP schemas
            body = schemas.use(op.body, "validation")
        data = schemas.use(op.response, "serialization") if op.response is not None else None
        keys[(op.method, op.path)] = (body, data)
    for route in plain_routes:
        if route.schema is not None:
            schemas.use(route.schema, "serialization")
    mapping, components = schemas.generate()
    error_schema = mapping[error_key]

    paths: dict[str, dict[str, Any]] = {}
    used_statuses: set[int] = set()
    for op in operations:
        body_key, data_key = keys[(op.method, op.path)]
        data_schema = mapping[data_key] if data_key else {"type": "null"}
        expansions = [(op.path, None)]
        if op.path == COMMAND_PATH:
            expansions = [(op.path.replace("{name}", name), name) for name in COMMANDS]
        for template, command in expansions:
            item: dict[str, Any] = {
                "operationId": op.name if command is None else f"send{command}",
                "summary": op.summary if command is None else f"{command}: {op.summary}",
                "tags": [op.tag],
                "security": [{_BEARER: []}],
                "x-chargekit-role": op.role,
            }
            description = f"Role: **{op.role}** or higher. {op.description}".strip()
            item["description"] = description
            params = []
            if op.path_model is not None:
                params += [
                    p
                    for p in _parameters(op.path_model, "path")
                    if command is None or p["name"] != "name"
                ]
            if op.query is not None:
                params += _parameters(op.query, "query")
            if params:
                item["parameters"] = params
            answer = data_schema
            if op.body is not None:
                body_schema = mapping[body_key] if body_key is not None else {}
                if command is not None:
                    components.setdefault(f"{command}Request", ocpp_schema(command))
                    components.setdefault(f"{command}Response", ocpp_schema(f"{command}Response"))
                    body_schema = _ref(f"{command}Request")
                    answer = {
                        "allOf": [
                            data_schema,
                            {"properties": {"response": _ref(f"{command}Response")}},
                        ]
                    }
                required = not op.body_optional
                if command is not None:  # an empty body is {}: required if {} is not valid
                    required = bool(ocpp_schema(command).get("required"))
                item["requestBody"] = {
                    "required": required,
                    "content": {"application/json": {"schema": body_schema}},
                }
            responses: dict[str, Any] = {
                str(op.status): {
                    "description": "OK" if op.status == 200 else "Created",
                    "content": {"application/json": {"schema": _envelope(answer)}},
                }
            }
            for status in _error_statuses(op):
                used_statuses.add(status)
                responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
            item["responses"] = responses
            paths.setdefault(openapi_path(prefix + template), {})[op.method.lower()] = item

    for route in plain_routes:
        content: dict[str, Any] = {route.media_type: {}}
        if route.schema is not None:
            content[route.media_type]["schema"] = _envelope(
                mapping[(repr(route.schema), "serialization")]
            )
        paths.setdefault(route.path, {})[route.method.lower()] = {
            "operationId": route.name,
            "summary": route.summary,
            "description": route.description,
            "tags": ["system"],
            "security": [],
            "responses": {
                str(status): {"description": STATUS_TEXT.get(status, "OK"), "content": content}
                for status in route.statuses
            },
        }

    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": title,
            "version": version,
            "description": 'Operator REST API. Answers are `{"success": true, "data": ...}`; '
            'errors `{"success": false, "error": {"code", "message"}}`. Send '
            "`Authorization: Bearer <API key>`; roles: read-only < operator < admin.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {
                f"Error{status}": {
                    "description": STATUS_TEXT[status],
                    "content": {"application/json": {"schema": copy.deepcopy(error_schema)}},
                }
                for status in sorted(used_statuses)
            },
            "securitySchemes": {
                _BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key: CHARGEKIT_ADMIN_KEY, the key printed on the "
                    "first start, or one from `chargekit keys create` / POST /api/v1/keys.",
                }
            },
        },
        "tags": [
            {"name": "stations"},
            {"name": "tokens"},
            {"name": "transactions"},
            {"name": "commands"},
            {"name": "keys"},
            {"name": "system"},
        ],
    }


# --- the docs page -----------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code,pre{font:13px ui-monospace,monospace}pre{background:#f4f4f4;padding:.6rem;overflow:auto}
.op{border-top:1px solid #ddd;padding:.4rem 0}.m{display:inline-block;width:4.5rem;font-weight:700}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def render_docs(document: dict[str, Any]) -> str:
    """A small HTML page listing every operation of `document`, then every schema."""
    info = document["info"]
    out = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>{_e(info['title'])} API</title><style>{_STYLE}</style>",
        f"<h1>{_e(info['title'])} API</h1><p>{_e(info['description'])}</p>",
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>',
        "<h2>Operations</h2>",
    ]
    for path, item in document["paths"].items():
        for method, op in item.items():
            role = op.get("x-chargekit-role", "public")
            out.append(
                f'<div class=op id="{_e(op["operationId"])}"><span class=m>{_e(method.upper())}'
                f"</span><code>{_e(path)}</code> — {_e(op['summary'])} <small>({_e(role)})"
                "</small>"
            )
            if op.get("description"):
                out.append(f"<p>{_e(op['description'])}</p>")
            if op.get("parameters"):
                out.append("<table><tr><th>parameter</th><th>in</th><th>schema</th></tr>")
                for p in op["parameters"]:
                    out.append(
                        f"<tr><td><code>{_e(p['name'])}</code>{'*' if p['required'] else ''}"
                        f"</td><td>{_e(p['in'])}</td><td><code>"
                        f"{_e(json.dumps(p['schema']))}</code></td></tr>"
                    )
                out.append("</table>")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                name = _ref_name(schema)
                link = f'<a href="#schema-{_e(name)}">{_e(name)}</a>' if name else "JSON"
                out.append(f"<p>Body: {link}</p>")
            codes = ", ".join(_e(code) for code in op["responses"])
            out.append(f"<p>Answers: {codes}</p></div>")
    out.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        out.append(
            f'<details id="schema-{_e(name)}"><summary><code>{_e(name)}</code></summary>'
            f"<pre>{_e(json.dumps(schema, indent=2))}</pre></details>"
        )
    out.append("</html>")
    return "\n".join(out)
