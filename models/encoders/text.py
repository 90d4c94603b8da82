"""Text encoder: any local Hugging Face checkpoint, mean pooling, L2 normalisation.

Use :class:`TextEncoder` through :func:`labelloop.models.encoders.load_encoder` (or :class:`BatchEmbedder` under Ray);
it loads from a local folder only (``local_files_only=True``; a missing or incomplete folder fails with a message that
names it). :meth:`TextEncoder.encode` tokenises all texts once, sorts them by token count and pads each batch to its
own longest row (≈1.6× on mixed lengths), runs under ``torch.inference_mode`` with an explicit thread count, and
returns vectors in input order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from labelloop.models.encoders.base import EncodeResult
from labelloop.models.encoders.spec import (
    CheckpointError,
    EncoderSpec,
    encoder_fingerprint,
    resolve_checkpoint,
    text_checkpoint_files,
)

logger = logging.getLogger(__name__)


def quantize_int8(model: torch.nn.Module, mode: str = "int8") -> torch.nn.Module:
    """Dynamic int8 quantisation of ``nn.Linear`` layers (weights int8, activations quantised per batch at run time).

    ``mode``: ``"int8"`` every Linear, one scale per weight tensor (the plain torch recipe);
    ``"int8-per-channel"`` every Linear, one scale per output channel; ``"int8-selective"`` per-channel, but
    down-projections (``in_features > out_features``: the FFN output layers, whose inputs are post-GELU activations
    with large outliers) stay fp32. Faster on CPU; vectors drift from fp32 (see bench/prelabel.md), hence off by
    default.
    """
    import warnings

    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = default_dynamic_qconfig if mode == "int8" else per_channel_dynamic_qconfig
    spec: dict[str, object] = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if mode == "int8-selective" and module.in_features > module.out_features:
            continue
        spec[name] = qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao eager quantisation deprecation notices
        return quantize_dynamic(model, spec, dtype=torch.qint8)


class TextEncoder:
    """A loaded text encoder. ``encode(texts)`` → :class:`EncodeResult` with vectors ``(n, dim)`` float32.

    Attributes: ``spec``, ``path`` (resolved checkpoint folder), ``fingerprint``, ``dim``, ``load_seconds``.
    """

    def __init__(self, spec: EncoderSpec) -> None:
        if spec.kind != "text":
            raise ValueError(f"TextEncoder needs an encoder spec of kind 'text', got {spec.kind!r}")
        if spec.quantize != "none" and not spec.device.startswith("cpu"):
            raise ValueError(f"int8 dynamic quantisation runs on CPU only; got device={spec.device!r}")
        from transformers import AutoModel, AutoTokenizer

        start = time.perf_counter()
        self.spec = spec
        self.path = resolve_checkpoint(spec)
        text_checkpoint_files(self.path)  # clear error before transformers' own
        self.fingerprint = encoder_fingerprint(spec)
        torch.set_num_threads(spec.threads)
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # weight-loading bars would flood worker logs
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            model = AutoModel.from_pretrained(str(self.path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"could not load text encoder checkpoint at {self.path}: {exc}") from exc
        model.eval()
        if spec.quantize != "none":
            model = quantize_int8(model, spec.quantize)
        self.device = torch.device(spec.device)
        self.model = model.to(self.device)
        self.dim = int(model.config.hidden_size)
        pad_id = self.tokenizer.pad_token_id
        self._pad_id = int(pad_id) if pad_id is not None else 0
        self.load_seconds = time.perf_counter() - start
        logger.info(
            "text encoder loaded path=%s fingerprint=%s dim=%d quantize=%s threads=%d seconds=%.2f",
            self.path,
            self.fingerprint,
            self.dim,
            spec.quantize,
            spec.threads,
            self.load_seconds,
        )

    def _pad(self, rows: list[list[int]], value: int) -> NDArray[np.int64]:
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), value, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    def encode(self, texts: Sequence[str] | NDArray[np.object_] | NDArray[np.str_]) -> EncodeResult:
        """Embed ``texts`` (n,) → vectors ``(n, dim)`` float32 in input order, and each row's padded length ``(n,)``.

        Rows are sorted by token count (longest first) and cut into batches of ``spec.batch_size``; each batch is
        padded to its longest row only. ``padded_lengths[i]`` is the padded width of the batch row ``i`` ran in, so
        ``padded_lengths.sum()`` is the number of token positions the model computed.
        """
        items = [str(t) for t in texts]
        n = len(items)
        vectors = np.empty((n, self.dim), dtype=np.float32)
        padded = np.zeros(n, dtype=np.int64)
        if n == 0:
            return EncodeResult(vectors=vectors, padded_lengths=padded)
        if torch.get_num_threads() != self.spec.threads:
            torch.set_num_threads(self.spec.threads)
        enc = self.tokenizer(
            items, truncation=True, max_length=self.spec.max_length, padding=False, return_attention_mask=False
        )
        ids: list[list[int]] = enc["input_ids"]
        type_ids: list[list[int]] | None = enc.get("token_type_ids")
        lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")
        bs = self.spec.batch_size
        with torch.inference_mode():
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                batch_ids = self._pad([ids[i] for i in idx], self._pad_id)
                width = batch_ids.shape[1]
                mask = np.zeros_like(batch_ids)
                for j, i in enumerate(idx):
                    mask[j, : lengths[i]] = 1
                inputs = {
                    "input_ids": torch.from_numpy(batch_ids).to(self.device),
                    "attention_mask": torch.from_numpy(mask).to(self.device),
                }
                if type_ids is not None:
                    inputs["token_type_ids"] = torch.from_numpy(self._pad([type_ids[i] for i in idx], 0)).to(
                        self.device
                    )
                hidden = self.model(**inputs).last_hidden_state  # (b, width, dim)
                m = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, width, 1)
                pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)  # (b, dim)
                if self.spec.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                vectors[idx] = pooled.float().cpu().numpy()
                padded[idx] = width
        return EncodeResult(vectors=vectors, padded_lengths=padded)
