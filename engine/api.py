"""The Python API: everything the CLI does, as functions on a :class:`Project`.

project = Project.from_config_file("configs/trec.yaml")
project.init()
summary = project.ingest()
print(project.status())
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.engine.config import ConfigError, ProjectConfig, SourceConfig, load_config
from labelloop.engine.ingest import IngestSummary, ingest_source, open_redactor
from labelloop.engine.ingest.identity import load_or_create_key
from labelloop.engine.ingest.pipeline import ProgressFn
from labelloop.engine.store import Store

if TYPE_CHECKING:
    from labelloop.connectors.labelstudio.client import LabelStudioClient
    from labelloop.engine.prelabel import PrelabelResult
    from labelloop.engine.quality.assess import QualityReport
    from labelloop.engine.rounds import PullResult, PushResult, RoundResult
    from labelloop.engine.rounds.autolabel import AutoLabelResult
    from labelloop.engine.rounds.review import ReviewPushResult
    from labelloop.engine.training import TrainResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InitResult:
    project: str
    workdir: str
    store_url: str
    schema_revision: str


class Project:
    """A labelloop project: its config, its workdir (store file, keys, caches) and its store."""

    def __init__(self, config: ProjectConfig, *, workdir: Path | None = None) -> None:
        self.config = config
        self.workdir = config.resolved_workdir(workdir)
        self.store_url = config.store_url(self.workdir)
        self._store: Store | None = None

    @classmethod
    def from_config_file(cls, path: str | Path, *, workdir: Path | None = None) -> Project:
        return cls(load_config(path), workdir=workdir)

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def init(self) -> InitResult:
        """Create the workdir, the store (or migrate it) and the identity key. Safe to run again."""
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.workdir.chmod(0o700)
        self._store = Store.create(self.store_url, busy_timeout_s=self.config.store.busy_timeout_s)
        load_or_create_key(self.workdir, self.config.privacy.hash_key_env)
        from labelloop.engine.store.db import current_revision

        rev = current_revision(self._store.engine) or ""
        log.info("initialised project=%s workdir=%s store=%s", self.config.project, self.workdir, self._store.url)
        return InitResult(self.config.project, str(self.workdir), self._store.url, rev)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.store_url, busy_timeout_s=self.config.store.busy_timeout_s)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- ingest ----------------------------------------------------------------------------------------------
    def ingest(
        self, source: SourceConfig | str | Path | None = None, *, progress: ProgressFn | None = None
    ) -> IngestSummary:
        """Ingest the configured source, another file with the same field mapping, or a full :class:`SourceConfig`."""
        src = self._source(source)
        key = load_or_create_key(self.workdir, self.config.privacy.hash_key_env)
        with open_redactor(self.config.privacy) as redactor:
            return ingest_source(self.store, self.config, src, hash_key=key, redactor=redactor, progress=progress)

    def _source(self, source: SourceConfig | str | Path | None) -> SourceConfig:
        if isinstance(source, SourceConfig):
            return source
        if source is None:
            if self.config.source is None:
                raise ConfigError("no source: give a file to ingest or set `source.path` in the config")
            return self.config.source
        base = self.config.source or SourceConfig(path=Path(source))
        return base.model_copy(update={"path": Path(source).resolve(), "format": "auto"})

    # ---- models ----------------------------------------------------------------------------------------------
    def train(self, *, promote: bool = True, force_reason: str | None = None) -> TrainResult:
        """Fit the configured head on the resolved labels and register a model version (serving if ``promote``).
        Refused (:class:`GateBlocked`) when a quality gate fails, unless ``force_reason`` says why to go on."""
        from labelloop.engine.training import train

        return train(self.store, self.config, self.workdir, promote=promote, force_reason=force_reason)

    def prelabel(self, *, progress: Callable[[int, int], None] | None = None) -> PrelabelResult:
        """Predictions from the serving model for every unlabelled item (embeddings only if there is no model)."""
        from labelloop.engine.prelabel import prelabel

        return prelabel(self.store, self.config, self.workdir, progress=progress)

    def models(self) -> list[dict[str, Any]]:
        return self.store.model_versions()

    def model(self, version_id: str) -> dict[str, Any]:
        row = self.store.model_version(version_id)
        if row is None:
            known = ", ".join(m["id"] for m in self.store.model_versions()) or "none"
            raise KeyError(f"no model version {version_id!r}; known: {known}")
        return row

    # ---- rounds ----------------------------------------------------------------------------------------------
    def select_round(self, **kwargs: Any) -> RoundResult:
        """Pick items for the next round with the configured (or given) strategy; records the round."""
        from labelloop.engine.rounds import select_round

        return select_round(self.store, self.config, self.workdir, **kwargs)

    def labelstudio(self) -> LabelStudioClient:
        """A client for the configured Label Studio (starting the local server if that is the configured one)."""
        from labelloop.engine.labelstudio import open_labelstudio

        return open_labelstudio(self.config, self.workdir)

    def push_round(self, round_id: int, *, client: LabelStudioClient | None = None) -> PushResult:
        from labelloop.engine.rounds import push_round

        return push_round(self.store, client or self.labelstudio(), self.config, round_id)

    def pull(self, *, client: LabelStudioClient | None = None) -> PullResult:
        """Pull new, edited and deleted annotations since the last pull, as label events."""
        from labelloop.engine.rounds import pull

        return pull(self.store, client or self.labelstudio(), self.config)

    def pull_review(self, *, client: LabelStudioClient | None = None) -> PullResult:
        """Pull reviewers' decisions from the review project as ``source=adjudication`` events."""
        from labelloop.engine.rounds import pull

        return pull(self.store, client or self.labelstudio(), self.config, review=True)

    # ---- quality ---------------------------------------------------------------------------------------------
    def quality(self, *, label_errors: bool = True) -> QualityReport:
        """Resolution, gold accuracy, agreement, suspected label errors (``label_errors``: needs embeddings of the
        labelled items) and the gates, as training would see them."""
        from labelloop.engine.quality.assess import assess, check_label_errors, embed_for_check, resolve_store

        live, resolution = resolve_store(self.store, self.config)
        errors = None
        eval_split = self.config.model.eval_split
        split = {it["id"]: it["split"] for it in self.store.items(columns=("id", "split"))}
        training = {
            i: r.label for i, r in resolution.labels.items() if eval_split is None or split.get(i) != eval_split
        }
        if label_errors and training:
            ids = sorted(training)
            X = embed_for_check(self.store, self.config, self.workdir, ids)
            errors = check_label_errors(
                X,
                [training[i] for i in ids],
                ids,
                self.config.task.labels,
                min_labels=self.config.quality.gates.min_labels_for_error_rate,
                seed=self.config.model.head.seed,
            )
        return assess(
            self.store, self.config, live=live, resolution=resolution, training_labels=training, label_errors=errors
        )

    def add_gold(self, *, split: str, n: int, seed: int = 0) -> dict[str, Any]:
        """Make ``n`` items of ``split`` gold: their imported (trusted) labels are copied as ``source=gold`` events.
        Rounds then mix unshown gold items in at ``quality.gold.rate``."""
        import numpy as np

        from labelloop.engine.quality.assess import resolve_store
        from labelloop.engine.quality.gold import gold_events

        live, _ = resolve_store(self.store, self.config)  # import labels read under the current taxonomy
        candidates = [
            it
            for it in self.store.items(columns=("id", "split"))
            if it["split"] == split and it["id"] in live.imported and it["id"] not in live.gold
        ]
        if not candidates and not live.gold:
            raise KeyError(f"no item of split {split!r} has an imported label to make gold")
        rng = np.random.default_rng(seed)
        take = [candidates[i] for i in sorted(rng.permutation(len(candidates))[:n])]
        events = gold_events(take, live.imported, already_gold=set(live.gold))
        self.store.append_label_events(events)
        return {"split": split, "added": len(events), "gold_items": len(live.gold) + len(events)}

    def push_review(self, *, suspects: bool = False, client: LabelStudioClient | None = None) -> ReviewPushResult:
        """Send disputed items (and with ``suspects`` the suspected label errors) to the review project."""
        from labelloop.engine.rounds.review import push_review

        report = self.quality(label_errors=suspects)
        rows = report.label_errors.suspects if suspects and report.label_errors is not None else []
        return push_review(
            self.store,
            client or self.labelstudio(),
            self.config,
            cases=list(report.resolution.review.values()),
            suspects=rows,
        )

    def auto_label(self, *, seed: int = 0) -> AutoLabelResult:
        """Auto-label confident pool items under the precision target; records an audit round to push."""
        from labelloop.engine.rounds.autolabel import auto_label

        return auto_label(self.store, self.config, self.workdir, seed=seed)

    # ---- status ----------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counts, plus spend to date and the remaining budget of the current period."""
        from labelloop.engine.rounds.budget import budget_state

        counts = self.store.counts()
        return {
            "project": self.config.project,
            "workdir": str(self.workdir),
            "store": self.store.url,
            "labels": list(self.config.task.labels),
            **asdict(counts),
            "budget": budget_state(self.store, self.config).as_dict(),
        }
