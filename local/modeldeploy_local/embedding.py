"""For text-embedding models: real sentences in, and a similarity check people can read.

Random token ids prove the numbers match ONNX Runtime's; related sentences
landing closer together than unrelated ones proves the served model still
understands text after optimization.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_local.check import Array, Tensors

ANCHOR = "A man is playing a guitar on stage."
RELATED = "Someone is performing music with an instrument."
UNRELATED = "The central bank raised interest rates again."
SENTENCES = (ANCHOR, RELATED, UNRELATED)


@dataclass(frozen=True)
class Similarity:
    related: float
    unrelated: float

    @property
    def passed(self) -> bool:
        return self.related > self.unrelated


def tokenizer_in(folder: Path) -> Any | None:
    """The Hugging Face fast tokenizer saved with the model, if there is one."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0)
    tokenizer.enable_truncation(max_length=128)
    return tokenizer


def encode(
    tokenizer: Any, input_names: list[str], sentences: tuple[str, ...] = SENTENCES
) -> Tensors:
    """The model's inputs for ``sentences``; None when it takes inputs other than tokens."""
    encodings = tokenizer.encode_batch(list(sentences))
    fields = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    return {name: np.asarray(fields[name], dtype=np.int64) for name in input_names}


def can_encode(input_names: list[str]) -> bool:
    return "input_ids" in input_names and set(input_names) <= {
        "input_ids",
        "attention_mask",
        "token_type_ids",
    }


def sentence_embeddings(outputs: Tensors, attention_mask: Array | None) -> Array | None:
    """[sentences, dim]: a pooled output as is, token embeddings mean-pooled over the mask."""
    for value in outputs.values():
        if value.ndim == 2 and value.dtype.kind == "f":
            return value
    for value in outputs.values():
        if value.ndim == 3 and value.dtype.kind == "f" and attention_mask is not None:
            weights = attention_mask[..., None].astype(value.dtype)
            pooled: Array = (value * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            return pooled
    return None


def similarity(embeddings: Array) -> Similarity:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return Similarity(
        related=float(unit[0] @ unit[1]),
        unrelated=float(unit[0] @ unit[2]),
    )
