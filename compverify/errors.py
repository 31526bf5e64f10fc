"""The one exception type for bad input.

Every user-facing validation failure raises :class:`CompverifyError` with a message that names the
bad value. The command line catches it, prints the message on one line and exits with status 2.
:class:`ComputationFailed` (a subclass) is valid input the method cannot handle: one line, status 1.
"""

from __future__ import annotations


class CompverifyError(ValueError):
    """Bad input: the message names the offending value and what was expected.

    >>> raise CompverifyError("--M must be >= 1, got 0")
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: --M must be >= 1, got 0
    """


class ComputationFailed(CompverifyError):
    """Valid input that the method cannot handle (every restart failed, a value is not accurate
    enough): not the user's mistake, so the command line says so and exits with status 1.

    A subclass of :class:`CompverifyError`, so code that catches bad input catches it too.
    """
