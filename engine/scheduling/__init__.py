"""Unattended runs: the cycle lock that keeps two nightly cycles of one project from running at once."""

from labelloop.engine.scheduling.lock import CycleLock, LockHeld, Takeover

__all__ = ["CycleLock", "LockHeld", "Takeover"]
