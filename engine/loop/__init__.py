"""The unattended cycle (``labelloop cycle``): steps, resume state, summary."""

from labelloop.engine.loop.cycle import STEPS, CycleSummary, StepReport, run_cycle, write_summary

__all__ = ["STEPS", "CycleSummary", "StepReport", "run_cycle", "write_summary"]
