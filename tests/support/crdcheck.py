"""What the API server does with a CRD schema, done in the tests: the structural
rules a CRD must follow, defaulting, and evaluation of its CEL rules (with a real
CEL interpreter), so rules are proven before a control plane is at hand."""

from __future__ import annotations

import copy
from typing import Any

import cel

Schema = dict[str, Any]

_FORBIDDEN = ("$ref", "anyOf", "oneOf", "allOf", "not", "definitions", "$defs", "nullable")


def structural_problems(schema: Schema, path: str = "") -> list[str]:
    """Why ``schema`` is not a structural schema with a description on every field."""
    problems = []
    here = path or "<root>"
    for key in _FORBIDDEN:
        if key in schema:
            problems.append(f"{here}: uses {key}")
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        problems.append(f"{here}: no type")
    kind = schema.get("type")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{here}: both properties and additionalProperties")
    if kind == "array" and "items" not in schema:
        problems.append(f"{here}: array without items")
    if kind != "object" and ("properties" in schema or "additionalProperties" in schema):
        problems.append(f"{here}: properties on a non-object")
    for name in schema.get("required", []):
        if name not in schema.get("properties", {}):
            problems.append(f"{here}: required {name} is not a property")
    if schema.get("x-kubernetes-list-type") == "map":
        for key in schema.get("x-kubernetes-list-map-keys", []):
            item = schema["items"]
            if key not in item.get("required", []) and "default" not in item["properties"][key]:
                problems.append(f"{here}: list-map key {key} neither required nor defaulted")
    if "default" in schema:
        problems += [f"{here} default: {p}" for p in value_problems(schema, schema["default"])]
        # The API server evaluates a default against the node's rules as written.
        problems += [
            f"{here} default breaks rule: {message}"
            for _, message in cel_failures(schema, schema["default"])
        ]
    for name, sub in schema.get("properties", {}).items():
        child = f"{path}.{name}" if path else name
        if path.startswith("spec") and "description" not in sub:
            problems.append(f"{child}: no description (kubectl explain shows nothing)")
        problems += structural_problems(sub, child)
    if isinstance(schema.get("additionalProperties"), dict):
        problems += structural_problems(schema["additionalProperties"], f"{here}[*]")
    if "items" in schema:
        problems += structural_problems(schema["items"], f"{here}[*]")
    return problems


def value_problems(schema: Schema, value: Any) -> list[str]:
    """Type and enum mismatches of ``value`` against ``schema`` (enough to check defaults)."""
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{value!r} is neither int nor string"]
    kinds = {
        "string": str,
        "integer": int,
        "number": int | float,
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    kind = schema["type"]
    if not isinstance(value, kinds[kind]) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{value!r} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{value!r} not in {schema['enum']}"]
    return []


def apply_defaults(schema: Schema, value: Any) -> Any:
    """Structural defaulting, as the API server does it: defaults of absent fields,
    recursively, including inside defaults."""
    value = copy.deepcopy(value)
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            value = {k: apply_defaults(extra, v) for k, v in value.items()}
    elif isinstance(value, list) and "items" in schema:
        value = [apply_defaults(schema["items"], item) for item in value]
    return value


def cel_failures(schema: Schema, value: Any, path: str = "") -> list[tuple[str, str]]:
    """(field path, message) of every x-kubernetes-validations rule that ``value`` breaks.

    Like the API server, rules of a node are evaluated only when its value has the
    schema's type; a value that fails the schema itself fails there instead.
    """
    if value_problems(schema, value):
        return []
    failures = []
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            passed = cel.evaluate(rule["rule"], {"self": value}) is True
        except Exception as error:  # a missing key is an error to the API server too
            passed = False
            rule = {**rule, "message": f"{rule['message']} ({error})"}
        if not passed:
            failures.append((path + rule.get("fieldPath", ""), rule["message"]))
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                child = f"{path}.{name}" if path else name
                failures += cel_failures(sub, value[name], child)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            failures += cel_failures(schema["items"], item, f"{path}[{index}]")
    return failures
