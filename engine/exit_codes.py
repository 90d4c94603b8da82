"""Process exit codes: documented in the README, stable, so schedulers can branch on them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1  # a bug or an unexpected failure: the message and traceback say more
    BAD_INPUT = 2  # bad config, bad command-line usage, a missing or unusable input file
    NO_VALID_ROWS = 3  # an ingest read rows but every one was quarantined (reasons printed)
    STORE_UNAVAILABLE = 4  # the label store is missing (run init) or cannot be reached
    NOT_ENOUGH_LABELS = 5  # train: fewer than two classes labelled
    AUTH_FAILED = 6  # an external service (Label Studio) refused our credentials
    SERVICE_UNREACHABLE = 7  # an external service (Label Studio, Ray cluster) did not answer; retry later
    GATE_BLOCKED = 8  # a quality gate failed: training or export refused (the message names gate, value, threshold)
    LOCK_HELD = 9  # another run holds the project's cycle lock (the message names its pid, host and start time)
    NOTHING_TO_DO = 10  # e.g. a round with no unlabelled item left
    BUDGET_EXHAUSTED = 11  # a spend cap left room for no task: nothing was pushed (the message names cap and spend)
