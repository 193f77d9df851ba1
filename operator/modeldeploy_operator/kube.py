"""The one module that talks to the Kubernetes API.

Writes are server-side applies with field manager ``modeldeploy``, and only when
the live object differs from what we want: a reconcile that finds the world as
desired sends no write at all (each write is counted in the metrics, which the tests read).
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError

from modeldeploy_operator import metrics
from modeldeploy_operator.settings import FIELD_MANAGER

Manifest = dict[str, Any]
API_RECHECK_SECONDS = 30.0


def contains(live: Any, desired: Any) -> bool:
    """Whether ``live`` already holds every value of ``desired``.

    The API server adds defaults, drops empty lists and maps, and normalises
    quantities (2 -> "2"), so extra keys in ``live`` are fine, an empty desired value
    matches an absent one, and scalars compare by their string form.
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            contains(live[key], value) if key in live else value in ([], {}, None)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    if isinstance(desired, bool) or isinstance(live, bool):
        return bool(live == desired)
    return str(live) == str(desired)


class Kube:
    """Thin, typed access to the few API calls the operator makes."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._dynamic = dynamic.DynamicClient(api)
        self._apis: dict[str, tuple[bool, float]] = {}

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def _count(self, verb: str, kind: str, namespace: str) -> None:
        metrics.API_WRITES.labels(verb=verb, kind=kind, namespace=namespace).inc()

    def has_api(self, group_version: str) -> bool:
        """Whether the API server serves ``group_version`` (e.g. KEDA's keda.sh/v1alpha1);
        asked afresh every API_RECHECK_SECONDS, so installing KEDA later is noticed."""
        now = time.monotonic()
        cached = self._apis.get(group_version)
        if cached is not None and now - cached[1] < API_RECHECK_SECONDS:
            return cached[0]
        try:
            self._api.call_api(
                f"/apis/{group_version}",
                "GET",
                auth_settings=["BearerToken"],
                response_types_map={},
                _preload_content=False,
            )
            served = True
        except ApiException as error:
            if error.status != 404:
                raise
            served = False
        self._apis[group_version] = (served, now)
        return served

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        try:
            found = self._resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        result: Manifest = found.to_dict()
        return result

    def list(self, api_version: str, kind: str, namespace: str, selector: str) -> list[Manifest]:
        found = self._resource(api_version, kind).get(namespace=namespace, label_selector=selector)
        return [item.to_dict() for item in found.items]

    def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply ``manifest`` unless the live object already matches it."""
        meta = manifest["metadata"]
        live = self.get(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        if live is not None and contains(live, manifest):
            return live
        self._count("apply", manifest["kind"], meta["namespace"])
        applied = self._resource(manifest["apiVersion"], manifest["kind"]).server_side_apply(
            body=manifest,
            name=meta["name"],
            namespace=meta["namespace"],
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        result: Manifest = applied.to_dict()
        return result

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete if present; True when something was deleted."""
        try:
            self._resource(api_version, kind).delete(
                name=name, namespace=namespace, body={"propagationPolicy": "Background"}
            )
        except NotFoundError:
            return False
        self._count("delete", kind, namespace)
        return True

    def patch_status(
        self, api_version: str, plural: str, namespace: str, name: str, status: Manifest
    ) -> None:
        """Replace the status fields we own (merge patch on the status subresource)."""
        group, version = api_version.split("/")
        self._count("status", plural, namespace)
        try:
            client.CustomObjectsApi(self._api).patch_namespaced_custom_object_status(
                group, version, namespace, plural, name, {"status": status}
            )
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing left to report on
                raise
