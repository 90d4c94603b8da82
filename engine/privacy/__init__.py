"""PII redaction: :class:`Redactor` (one process) and :class:`ParallelRedactor` (a process pool).

See :mod:`labelloop.engine.privacy.redactor` for what is detected and how, and
:mod:`labelloop.engine.privacy.evaluation` for the token-level evaluator used by the bench and the tests.
"""

from labelloop.engine.privacy.parallel import ParallelRedactor
from labelloop.engine.privacy.redactor import RedactedSpan, Redaction, Redactor

__all__ = ["ParallelRedactor", "RedactedSpan", "Redaction", "Redactor"]
