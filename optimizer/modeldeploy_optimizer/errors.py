"""The one exception type the optimizer raises for a failure a user can act on.

Each failure carries a machine reason (CamelCase, copied into the ModelDeployment's
conditions by the operator) and a one-line message for people.
"""

from __future__ import annotations

from typing import Literal

Reason = Literal[
    "SourceUnreachable",
    "ChecksumMismatch",
    "UnknownFormat",
    "InvalidInput",
    "ExportFailed",
    "QuantizationFailed",
    "AccuracyGateFailed",
    "OutOfMemory",
    "OutputUnwritable",
    "InternalError",
]


class OptimizerError(Exception):
    """A failure with a reason the operator can show as a condition."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message

    def one_line(self) -> str:
        """The message on one line, as the termination message wants it."""
        return " ".join(self.message.split())
