"""Reading ModelDeployment manifests and explaining why one is invalid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modeldeploy_operator.api.v1alpha1 import ModelDeployment


class ManifestError(ValueError):
    """A manifest that does not describe a valid ModelDeployment; one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _field_path(loc: tuple[int | str, ...], extra: str = "") -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else item)
    if extra:
        parts.append(extra if extra.startswith(".") else f".{extra}")
    return "".join(parts)


def explain(error: ValidationError) -> list[str]:
    """One ``<field path>: <message>`` line per error, as the API server words its paths."""
    lines = []
    for item in error.errors():
        ctx = item.get("ctx") or {}
        # Union branches add the member type to loc ("int", "str"); they name no field.
        loc = tuple(p for p in item["loc"] if p not in ("int", "str", "function-after[_bounded()]"))
        path = _field_path(loc, str(ctx.get("field", "")) if item["type"] == "rule" else "")
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = f'unknown field "{path}"'
        lines.append(f"{path or '<root>'}: {message}")
    return lines


def parse_manifest(document: dict[str, Any], source: str = "<manifest>") -> ModelDeployment:
    try:
        return ModelDeployment.model_validate(document)
    except ValidationError as error:
        raise ManifestError(source, explain(error)) from None


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as stream:
        for document in yaml.safe_load_all(stream):
            if document is not None:
                if not isinstance(document, dict):
                    raise ManifestError(str(path), ["<root>: not a YAML mapping"])
                yield document


def load_manifests(path: Path) -> list[ModelDeployment]:
    """Every ModelDeployment in a (multi-document) YAML file; other kinds are ignored."""
    return [
        parse_manifest(document, str(path))
        for document in _documents(path)
        if document.get("kind") == "ModelDeployment"
    ]
