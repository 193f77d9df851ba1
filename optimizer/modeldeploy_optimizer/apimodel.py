"""Base class for every model of the ModelDeployment API.

The same pydantic classes validate manifests on a client (``modeldeploy``
commands, tests) and generate the CRD's OpenAPI schema. A cross-field rule is
written once as a :class:`Rule`: its CEL expression goes into the CRD's
``x-kubernetes-validations`` so the API server enforces it, and its Python
predicate makes the models reject the same input with the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Rule:
    """A cross-field validation rule, enforced by the API server and by the models."""

    cel: str
    message: str
    check: Callable[[Any], bool]
    # Relative JSONPath (".minReplicas") that the API server reports the error on.
    field_path: str | None = None


class ApiModel(BaseModel):
    """camelCase on the wire, unknown fields rejected, rules checked after parsing."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        for rule in self.rules:
            if not rule.check(self):
                # The field path travels in ctx so that error formatting can name the
                # field the way the API server does (spec.autoscaling.minReplicas).
                raise PydanticCustomError(
                    "rule", "{message}", {"message": rule.message, "field": rule.field_path or ""}
                )
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict a Kubernetes client would send (aliases, no unset Nones)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def api_field(description: str, **kwargs: Any) -> Any:
    """A pydantic Field whose description becomes ``kubectl explain`` text."""
    return Field(description=description, **kwargs)


# An int or a string, like Kubernetes' IntOrString (ports, percentages, quantities).
IntOrString = Annotated[int | str, Field(json_schema_extra={"x-kubernetes-int-or-string": True})]
