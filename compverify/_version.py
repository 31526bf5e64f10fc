"""The version of compverify (one place; the package, results and checkpoints read it)."""

__version__ = "0.1.0"
