"""The Argo CD health check (Lua, run here with a real Lua runtime) on status samples
taken from what the operator writes."""

from __future__ import annotations

from typing import Any

import pytest
from lupa import LuaRuntime

from tests.support.manifests import ROOT

SCRIPT = (ROOT / "charts" / "modeldeploy" / "docs" / "argocd-health.lua").read_text()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    run = lua.eval(f"function(obj)\n{SCRIPT}\nend")
    result = run(_to_lua(lua, obj))
    return str(result["status"]), str(result["message"])


def _to_lua(lua: LuaRuntime, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def _obj(generation: int, status: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "m", "generation": generation}}
    if status is not None:
        obj["status"] = status
    return obj


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


READY = {
    "observedGeneration": 2,
    "phase": "Ready",
    "conditions": [
        _cond("Optimized", "True", "Succeeded", "revision abc: dynamic-int8 kept"),
        _cond("Ready", "True", "Serving", "revision abc serves 2 ready pods"),
    ],
}


@pytest.mark.parametrize(
    ("obj", "expected", "fragment"),
    [
        (_obj(1, None), "Progressing", "Waiting"),
        (_obj(3, READY), "Progressing", "generation 3"),
        (_obj(2, READY), "Healthy", "serves 2 ready pods"),
        (
            _obj(2, {**READY, "phase": "Degraded", "conditions": [
                _cond("Optimized", "False", "AccuracyGateFailed",
                      "revision def: cosine 0.95 is below 0.99"),
                _cond("Ready", "True", "PreviousRevisionServing", "revision abc serves"),
            ]}),
            "Degraded", "cosine 0.95",
        ),
        (
            _obj(2, {**READY, "phase": "Failed", "conditions": [
                _cond("Ready", "False", "SourceUnreachable", "revision abc: no such bucket"),
            ]}),
            "Degraded", "no such bucket",
        ),
        (
            _obj(2, {**READY, "phase": "Optimizing", "conditions": [
                _cond("Optimized", "Unknown", "Unschedulable",
                      "revision abc: the optimizer pod cannot be scheduled"),
            ]}),
            "Progressing", "cannot be scheduled",
        ),
        (_obj(2, {**READY, "phase": "Deploying"}), "Progressing", "Deploying"),
    ],
)  # fmt: skip
def test_health(obj: dict[str, Any], expected: str, fragment: str) -> None:
    status, message = health(obj)
    assert status == expected
    assert fragment in message
