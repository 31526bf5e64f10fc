"""The one exception type for bad input.

Every user-facing validation failure raises :class:`CompverifyError` with a message that names the
bad value. The command line catches it, prints the message on one line and exits with status 2.
"""

from __future__ import annotations


class CompverifyError(ValueError):
    """Bad input: the message names the offending value and what was expected.

    >>> raise CompverifyError("--M must be >= 1, got 0")
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: --M must be >= 1, got 0
    """
