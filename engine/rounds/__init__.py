"""Labeling rounds: select items with a strategy (:mod:`.select`), push them with pre-labels to Label Studio
(:mod:`.push`), and pull the annotations back as label events (:mod:`.pull`)."""

from labelloop.engine.rounds.pull import PullResult, pull
from labelloop.engine.rounds.push import PushResult, push_round
from labelloop.engine.rounds.select import NothingToSelect, RoundResult, select_round

__all__ = ["NothingToSelect", "PullResult", "PushResult", "RoundResult", "pull", "push_round", "select_round"]
