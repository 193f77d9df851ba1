"""Where a revision's model repository lives, and how pods reach it and the model.

pvc:// locations become volumes mounted at fixed paths, so the optimizer and
Triton only ever see local paths; s3:// locations are passed through with the
credentials Secret as environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCE_MOUNT = "/mnt/source"
ARTIFACTS_MOUNT = "/mnt/artifacts"


@dataclass(frozen=True)
class Location:
    """One pvc:// or s3:// location as a pod sees it."""

    uri: str
    path: str
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    env_from: list[dict[str, Any]] = field(default_factory=list)


def _split_pvc(uri: str) -> tuple[str, str]:
    claim, _, path = uri.removeprefix("pvc://").partition("/")
    return claim, path.strip("/")


def _secret_env(secret: str | None) -> list[dict[str, Any]]:
    return [{"secretRef": {"name": secret}}] if secret else []


def artifact_location(
    base_uri: str, secret: str | None, name: str, revision: str, *, read_only: bool
) -> Location:
    """The repository folder of one revision: <base>/<name>/<revision>."""
    suffix = f"{name}/{revision}"
    if base_uri.startswith("pvc://"):
        claim, path = _split_pvc(base_uri)
        relative = f"{path}/{suffix}" if path else suffix
        return Location(
            uri=f"pvc://{claim}/{relative}",
            path=f"{ARTIFACTS_MOUNT}/{relative}",
            volumes=[
                {
                    "name": "artifacts",
                    "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only},
                }
            ],
            mounts=[{"name": "artifacts", "mountPath": ARTIFACTS_MOUNT, "readOnly": read_only}],
        )
    uri = f"{base_uri.rstrip('/')}/{suffix}"
    return Location(uri=uri, path=uri, env_from=_secret_env(secret))


def model_location(uri: str, secret: str | None) -> Location:
    """The trained model as the optimization Job reads it."""
    if uri.startswith("pvc://"):
        claim, path = _split_pvc(uri)
        return Location(
            uri=uri,
            path=f"file://{SOURCE_MOUNT}/{path}",
            volumes=[
                {"name": "source", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
            ],
            mounts=[{"name": "source", "mountPath": SOURCE_MOUNT, "readOnly": True}],
        )
    return Location(uri=uri, path=uri, env_from=_secret_env(secret))
