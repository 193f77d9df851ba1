"""Inputs for calibration, the accuracy gate and the benchmark.

Three sources: sentences through the model's own tokenizer (text models), random
tensors from the input spec, or samples from an ``.npz`` file (``calibration.uri``).
Calibration and held-out inputs never overlap: text and random samples come from
separate generators; an ``.npz`` file is split in two.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.repository import IoSignature, TensorInfo

Feed = dict[str, np.ndarray]

CALIBRATION_SEED, HELD_OUT_SEED, BENCHMARK_SEED = 1, 2, 3
# Calibration runs the model on this many samples at a time.
CALIBRATION_BATCH = 8


class Samples(ABC):
    """Where a model's inputs come from."""

    description: str

    @abstractmethod
    def calibration(self, count: int) -> list[Feed]:
        """Calibration inputs, in batches of CALIBRATION_BATCH samples."""

    @abstractmethod
    def held_out(self, count: int) -> Feed:
        """Held-out inputs for the accuracy gate, stacked on the batch axis."""

    @abstractmethod
    def batch(self, size: int) -> Feed:
        """One benchmark batch."""


def split(feed: Feed, size: int) -> list[Feed]:
    """A stacked feed as consecutive batches of at most ``size`` samples."""
    total = len(next(iter(feed.values())))
    return [{k: v[i : i + size] for k, v in feed.items()} for i in range(0, total, size)]


# --- sentences -------------------------------------------------------------------

_SUBJECTS = (
    "the engineer",
    "a small dog",
    "my grandmother",
    "the city council",
    "an old sailor",
    "the new intern",
    "our team",
    "the orchestra",
    "a curious child",
    "the startup",
    "the hospital",
    "a farmer",
    "the museum",
    "the football club",
    "a tired nurse",
    "the research lab",
    "the bakery on the corner",
    "the airline",
    "a student",
    "the court",
)
_VERBS = (
    "repaired",
    "painted",
    "ignored",
    "celebrated",
    "bought",
    "designed",
    "cancelled",
    "explained",
    "measured",
    "delivered",
    "questioned",
    "photographed",
    "sold",
    "tested",
    "borrowed",
    "rebuilt",
    "announced",
    "forgot",
    "studied",
    "translated",
)
_OBJECTS = (
    "the broken bridge",
    "a red bicycle",
    "the quarterly report",
    "a strange letter",
    "the new vaccine",
    "an expensive violin",
    "the weather forecast",
    "a chocolate cake",
    "the train schedule",
    "a wooden boat",
    "the election results",
    "a stolen painting",
    "the software update",
    "a pair of shoes",
    "the river map",
    "an ancient coin",
    "the marathon route",
    "a jazz album",
    "the tax law",
    "a solar panel",
)
_TAILS = (
    "before the storm arrived",
    "after a long meeting",
    "without telling anyone",
    "in the middle of the night",
    "for the third time this year",
    "despite the rain",
    "while the market was closed",
    "with great enthusiasm",
    "during the holidays",
    "near the old harbour",
    "because nobody else would",
    "under strict supervision",
    "to everyone's surprise",
    "as the sun went down",
    "at the request of the mayor",
)
_OPENERS = (
    "",
    "",
    "",
    "Yesterday, ",
    "Honestly, ",
    "According to the news, ",
    "In 1998, ",
    "Surprisingly, ",
    "Last week ",
    "Nobody expected that ",
)
_QUESTIONS = (
    "How do I reset my password?",
    "What is the capital of Australia?",
    "Why is the sky blue during the day?",
    "Where can I buy fresh bread near here?",
    "Which laptop is best for machine learning?",
    "Is it going to snow tomorrow?",
    "How many people live in Tokyo?",
    "Can you recommend a good science fiction book?",
)


def sentences(count: int, seed: int) -> list[str]:
    """``count`` varied English sentences (statements, questions, short and long)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.15:
            out.append(rng.choice(_QUESTIONS))
            continue
        parts = []
        for _ in range(1 if kind < 0.7 else rng.randint(2, 5)):
            sentence = (
                f"{rng.choice(_OPENERS)}{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} "
                f"{rng.choice(_OBJECTS)} {rng.choice(_TAILS)}."
            )
            parts.append(sentence[0].upper() + sentence[1:])
        out.append(" ".join(parts))
    return out


class TextSamples(Samples):
    """Sentences tokenized by the model's tokenizer, padded to ``seq_len``."""

    def __init__(self, tokenizer: Any, io: IoSignature, seq_len: int) -> None:
        self._tokenizer = tokenizer
        self._names = [t.name for t in io.inputs]
        self._seq_len = seq_len
        self.description = f"generated sentences, tokenized to {seq_len} tokens"

    def _encode(self, texts: Sequence[str], padding: str = "max_length") -> Feed:
        encoded = self._tokenizer(
            list(texts),
            padding=padding,
            truncation=True,
            max_length=self._seq_len,
            return_tensors="np",
        )
        return {name: np.asarray(encoded[name], dtype=np.int64) for name in self._names}

    def calibration(self, count: int) -> list[Feed]:
        texts = sentences(count, CALIBRATION_SEED)
        return [
            self._encode(texts[i : i + CALIBRATION_BATCH], padding="longest")
            for i in range(0, len(texts), CALIBRATION_BATCH)
        ]

    def held_out(self, count: int) -> Feed:
        # Padded to the longest sentence, not to seq_len: the mask makes padding
        # irrelevant to the embedding, and the gate runs much faster.
        return self._encode(sentences(count, HELD_OUT_SEED), padding="longest")

    def batch(self, size: int) -> Feed:
        return self._encode(sentences(size, BENCHMARK_SEED))


class RandomSamples(Samples):
    """Random tensors shaped by the input spec (float: N(0, 1); ids: small integers)."""

    def __init__(self, inputs: Sequence[TensorInfo], dims: dict[str, tuple[int, ...]]) -> None:
        self._inputs = list(inputs)
        self._dims = dims
        self.description = "random tensors from the input spec"

    def _make(self, count: int, seed: int) -> Feed:
        rng = np.random.default_rng(seed)
        feed: Feed = {}
        for tensor in self._inputs:
            shape = (count, *self._dims[tensor.name])
            name = tensor.name.lower()
            if tensor.dtype.startswith("float"):
                feed[tensor.name] = rng.standard_normal(shape).astype(tensor.dtype)
            elif tensor.dtype == "bool" or "mask" in name:
                feed[tensor.name] = np.ones(shape, dtype=tensor.dtype)
            elif "type" in name:
                feed[tensor.name] = np.zeros(shape, dtype=tensor.dtype)
            else:
                feed[tensor.name] = rng.integers(0, 100, shape).astype(tensor.dtype)
        return feed

    def calibration(self, count: int) -> list[Feed]:
        return split(self._make(count, CALIBRATION_SEED), CALIBRATION_BATCH)

    def held_out(self, count: int) -> Feed:
        return self._make(count, HELD_OUT_SEED)

    def batch(self, size: int) -> Feed:
        return self._make(size, BENCHMARK_SEED)


def sample_dims(
    io: IoSignature, declared: dict[str, tuple[int, ...]] | None
) -> dict[str, tuple[int, ...]]:
    """Per-sample shape (no batch axis) of each input, with dynamic axes made concrete.

    A declared shape (``model.inputs``) wins; a dynamic axis of an integer input (a
    sequence) becomes 128; a dynamic axis of a float input needs a declared shape.
    """
    dims: dict[str, tuple[int, ...]] = {}
    for tensor in io.inputs:
        shape = list((declared or {}).get(tensor.name, tensor.shape))[1:]
        for axis, size in enumerate(shape):
            if size > 0:
                continue
            known = tensor.shape[axis + 1] if axis + 1 < len(tensor.shape) else -1
            if known > 0:
                shape[axis] = known
            elif not tensor.dtype.startswith("float"):
                shape[axis] = 128
            else:
                raise OptimizerError(
                    "InvalidInput",
                    f"input {tensor.name} has a dynamic axis {axis + 1}: set model.inputs "
                    "with its shape (e.g. [-1, 3, 224, 224]) so samples can be made",
                )
        dims[tensor.name] = tuple(shape)
    return dims


class NpzSamples(Samples):
    """Samples from an .npz file, split in two: calibration first, held-out last."""

    def __init__(self, path: Path, io: IoSignature, calibration_count: int, held_out_count: int):
        try:
            with np.load(path) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise OptimizerError(
                "InvalidInput", f"calibration samples {path.name}: {error}"
            ) from None
        names = [t.name for t in io.inputs]
        if len(arrays) == 1 and len(names) == 1:
            arrays = {names[0]: next(iter(arrays.values()))}
        missing = [n for n in names if n not in arrays]
        if missing:
            raise OptimizerError(
                "InvalidInput",
                f"calibration samples {path.name} lack arrays for inputs {missing} "
                f"(it has {sorted(arrays)})",
            )
        total = len(arrays[names[0]])
        if total < 2:
            raise OptimizerError("InvalidInput", f"{path.name} needs at least 2 samples")
        dtypes = {t.name: t.dtype for t in io.inputs}
        self._arrays = {n: arrays[n].astype(dtypes[n]) for n in names}
        self.held_out_count = min(held_out_count, total // 2)
        self.calibration_count = min(calibration_count, total - self.held_out_count)
        self.description = (
            f"{path.name}: {self.calibration_count} calibration and {self.held_out_count} "
            f"held-out samples of {total}"
        )

    def calibration(self, count: int) -> list[Feed]:
        n = min(count, self.calibration_count)
        return split({k: v[:n] for k, v in self._arrays.items()}, CALIBRATION_BATCH)

    def held_out(self, count: int) -> Feed:
        n = min(count, self.held_out_count)
        return {k: v[len(v) - n :] for k, v in self._arrays.items()}

    def batch(self, size: int) -> Feed:
        total = len(next(iter(self._arrays.values())))
        index = np.arange(size) % total
        return {k: v[index] for k, v in self._arrays.items()}
