"""What the ONNX Runtime inside each Triton release loads: opset and IR version limits.

A model is exported for its target runtime: the opset and the IR version are capped
so that the ONNX Runtime of that Triton release (the ``onnxruntime_onnx`` backend)
loads it. The table comes from the Triton release notes (ONNX Runtime version per
release) and ONNX Runtime's versioning doc (highest opset and IR version per release).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modeldeploy_optimizer.spec import DEFAULT_TRITON_IMAGE

# Triton release (YY.MM, first release with that ONNX Runtime) -> (ORT version, opset, IR).
_RELEASES: tuple[tuple[tuple[int, int], str, int, int], ...] = (
    ((23, 4), "1.14.1", 18, 8),
    ((23, 10), "1.16.0", 19, 9),
    ((24, 1), "1.16.3", 19, 9),
    ((24, 4), "1.17.3", 20, 9),
    ((24, 5), "1.18.0", 20, 9),
    ((24, 10), "1.19.2", 21, 10),
    ((25, 1), "1.20.1", 21, 10),
    ((25, 3), "1.21.0", 21, 10),
    ((25, 5), "1.22.0", 21, 10),
)

# The opset the exporter writes when the runtime allows it: 17 has LayerNormalization
# and every quantization form used here, and is what torch's exporter is tested on most.
PREFERRED_OPSET = 17

_TAG = re.compile(r":(\d{2})\.(\d{2})(?:-|$)")


@dataclass(frozen=True)
class RuntimeTarget:
    """The ONNX limits of the Triton release a model is exported for."""

    image: str
    release: str
    onnxruntime: str
    max_opset: int
    max_ir_version: int
    known: bool

    @property
    def opset(self) -> int:
        """The opset to export at."""
        return min(PREFERRED_OPSET, self.max_opset)


def target_for(image: str) -> RuntimeTarget:
    """The limits for a Triton image; an unknown tag falls back to the default release's."""
    match = _TAG.search(image)
    if match is None:
        fallback = target_for(DEFAULT_TRITON_IMAGE)
        return RuntimeTarget(
            image,
            "unknown",
            fallback.onnxruntime,
            fallback.max_opset,
            fallback.max_ir_version,
            False,
        )
    year, month = int(match.group(1)), int(match.group(2))
    if (year, month) < _RELEASES[0][0]:
        first = _RELEASES[0]
        return RuntimeTarget(image, f"{year}.{month:02d}", first[1], 17, 8, False)
    chosen = _RELEASES[0]
    for entry in _RELEASES:
        if entry[0] <= (year, month):
            chosen = entry
    # A release newer than the table gets the newest limits known: newer runtimes load them.
    return RuntimeTarget(image, f"{year}.{month:02d}", chosen[1], chosen[2], chosen[3], True)
