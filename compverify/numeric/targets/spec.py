"""The description of a target, parsed and validated once: :class:`TargetSpec`.

A spec says *which* network is being compressed -- the family (``isotropic``, ``gaussian``,
``iid:gaussian``, ``iid:rademacher``, ``iid:uniform``, an ``.npz`` file, the two weights of a
``.safetensors`` file, or a family a route registers), the law of the weight entries, ``d``,
the mean and scale of the weights, the activation and the rule options -- and nothing about
*how* ``h`` and ``C`` are computed: that is the route's business
(:mod:`compverify.numeric.targets.registry` picks the first route whose predicate accepts the
spec).  :meth:`TargetSpec.from_options` parses the command-line options
(``--target``, ``--d``, ``--target-mean``, ``--target-scale``, ``--rule-points``) with the
messages the CLI prints on bad input.

>>> spec = TargetSpec.from_options("iid:uniform", d=3, mean="0.1", scale=None, activation="relu")
>>> spec.family, spec.law, spec.d, spec.mean, spec.scale
('iid:uniform', 'uniform', 3, (0.1, 0.1, 0.1), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.model_files import SAFETENSORS_SUFFIX, parse_layers
from compverify.numeric.targets.rademacher import MAX_RADEMACHER_D
from compverify.symbolic.activations import Activation, as_activation
from compverify.validate import check_positive_int, check_target_numbers

__all__ = ["TargetSpec", "GAUSSIAN_FAMILIES", "SCALAR_MEAN_FAMILIES", "positive_number",
           "parse_mean", "FILE_LABELS", "is_file_target", "split_file_target", "with_layers"]

#: Families whose weights are Gaussian, ``w ~ N(mu, s^2 I_d)`` (``isotropic``: ``mu = 0``,
#: ``s = 1/sqrt(d)``).
GAUSSIAN_FAMILIES = ("isotropic", "gaussian", "iid:gaussian")
#: Families of i.i.d. entries ``m + s xi`` that take one scalar mean ``m``.
SCALAR_MEAN_FAMILIES = ("iid:rademacher", "iid:uniform")
#: The ``family`` of a target read from an ``.npz`` file (``path`` names the file).
NPZ = "npz"
#: The ``family`` of a target read from the two weights of a ``.safetensors`` file
#: (:mod:`compverify.numeric.model_files`; ``layers`` names the tensors).
SAFETENSORS = "safetensors"
#: How the route table and the messages spell the file families.
FILE_LABELS = {NPZ: "PATH.npz", SAFETENSORS: "PATH.safetensors"}


def split_file_target(text: str) -> tuple[str, str, tuple[str, str] | None] | None:
    """``(family, path, layers)`` of a file target, ``None`` for any other target.

    ``PATH.npz``; ``PATH.safetensors``, or ``PATH.safetensors[FIRST,SECOND]`` naming the two
    weight tensors (what ``--layers FIRST,SECOND`` adds to ``--target``; ``layers`` is ``None``
    for the default names).

    >>> split_file_target("m.safetensors[fc1.weight,fc2.weight]")
    ('safetensors', 'm.safetensors', ('fc1.weight', 'fc2.weight'))
    """
    t = str(text).strip()
    if t.endswith(".npz"):
        return NPZ, t, None
    if t.endswith(SAFETENSORS_SUFFIX):
        return SAFETENSORS, t, None
    if t.endswith("]") and SAFETENSORS_SUFFIX + "[" in t:
        cut = t.rindex(SAFETENSORS_SUFFIX + "[") + len(SAFETENSORS_SUFFIX)
        return SAFETENSORS, t[:cut], parse_layers(t[cut + 1:-1])
    return None


def is_file_target(text: str) -> bool:
    """Whether ``text`` names a target file (``.npz``, ``.safetensors``), whose data give ``d``."""
    return split_file_target(text) is not None


def with_layers(target: str, layers: str | None) -> str:
    """The ``--target`` text with ``--layers FIRST,SECOND`` folded in (``PATH.safetensors[FIRST,
    SECOND]``); ``layers`` applies only to a ``.safetensors`` target.

    >>> with_layers("m.safetensors", "fc1.weight,fc2.weight")
    'm.safetensors[fc1.weight,fc2.weight]'
    """
    if layers is None:
        return target
    if not str(target).strip().endswith(SAFETENSORS_SUFFIX):
        raise CompverifyError(f"--layers applies only to a --target PATH.safetensors, not to "
                              f"{target!r}")
    return f"{str(target).strip()}[{','.join(parse_layers(layers))}]"


def positive_number(text: Any, what: str) -> float:
    """``text`` as a positive finite float, or an error naming ``what`` and the bad value."""
    try:
        x = float(str(text).strip())
    except ValueError:
        raise CompverifyError(f"{what} must be a number, got {text!r}") from None
    if not np.isfinite(x) or x <= 0:
        raise CompverifyError(f"{what} must be a positive finite number, got {text!r}")
    return x


def parse_mean(text: str | None, d: int) -> np.ndarray:
    """``--target-mean``: none (zeros), one number ``m`` (meaning ``m 1``) or ``d`` numbers."""
    if text is None:
        return np.zeros(d)
    parts = [p for p in str(text).split(",")]
    try:
        vals = [float(p.strip()) for p in parts]
    except ValueError:
        raise CompverifyError(f"--target-mean must be a number or {d} comma-separated numbers, "
                              f"got {text!r}") from None
    if not all(np.isfinite(vals)):
        raise CompverifyError(f"--target-mean must be finite, got {text!r}")
    if len(vals) == 1:
        return np.full(d, vals[0])
    if len(vals) != d:
        raise CompverifyError(f"--target-mean has {len(vals)} entries but d = {d}")
    return np.array(vals)


@dataclass(frozen=True)
class TargetSpec:
    """Which target: the family, the law of the entries, ``d``, mean, scale, activation, options.

    ``mean``: the ``d`` entries of the weights' mean as floats, or ``None`` for mean 0 (an
    ``.npz`` has none).  ``path``, ``layers``: the file of a file target, and the names of the
    two weight tensors of a ``.safetensors`` one (``None``: ``0.weight, 2.weight``).
    ``scale``: as given (the CLI's text, kept so that closed forms see the decimal the user
    wrote), ``None`` for ``1/sqrt(d)``.  ``abar``: the mean second layer, ``None``
    for the route's default (1).  ``rule``: options of the rule a route uses, as ``(name, value)``
    pairs (``points`` of the quasi-Monte Carlo rule, ``nodes`` of the Gauss rule); asking for one
    selects the route that has it.  ``name``: the family name the target reports (default the
    family).
    """

    family: str
    activation: Activation
    d: int | None
    law: str | None = None
    mean: tuple[float, ...] | None = None
    scale: Any = None
    abar: Any = None
    path: str | None = None
    name: str | None = None
    rule: tuple[tuple[str, Any], ...] = ()
    layers: tuple[str, str] | None = None

    @classmethod
    def from_options(cls, target: str, *, d: int | None, mean: str | None, scale: str | None,
                     activation: Any, rule_points: int | None = None) -> TargetSpec:
        """The spec of the command-line options, validated (one-line error naming a bad value).

        ``target``: ``isotropic``, ``gaussian``, ``iid:LAW`` (``gaussian``, ``rademacher``,
        ``uniform``), a path ending in ``.npz`` or ``.safetensors`` (optionally
        ``.safetensors[FIRST,SECOND]``, :func:`split_file_target`), or a family a registered
        route serves (checked when the spec is built into a target).  ``rule_points``: points
        per replicate of the quasi-Monte Carlo rule, which only the families it serves take
        (``iid:uniform``, ``iid:rademacher`` with ``d > 12``).
        """
        act = as_activation(activation)
        for value, option in ((mean, "--target-mean"), (scale, "--target-scale")):
            if value is not None:  # finite and inside the float64 range of C
                check_target_numbers(value, option, positive=option == "--target-scale")
        rule = () if rule_points is None else (
            ("points", check_positive_int(rule_points, "--rule-points")),)
        t = str(target).strip()
        big_d = isinstance(d, (int, np.integer)) and d > MAX_RADEMACHER_D
        uses_qmc = t == "iid:uniform" or (t == "iid:rademacher" and big_d)
        if rule and not uses_qmc:
            raise CompverifyError("--rule-points applies only to the quasi-Monte Carlo targets "
                                  f"(iid:uniform, iid:rademacher with d > {MAX_RADEMACHER_D}), "
                                  f"not to {t!r}")
        file_target = split_file_target(t)
        if file_target is not None:
            family, path, layers = file_target
            if mean is not None or scale is not None:
                raise CompverifyError("--target-mean/--target-scale do not apply to a target "
                                      f"file ({FILE_LABELS[family]})")
            return cls(family=family, activation=act, d=None, path=path, layers=layers)
        if d is None:
            raise CompverifyError(f"--d is required for the target {t!r}")
        d = check_positive_int(d, "--d")
        if t == "isotropic":
            if mean is not None or scale is not None:
                raise CompverifyError("the isotropic target has mean 0 and scale 1/sqrt(d); use "
                                      "--target gaussian to set them")
            return cls(family=t, activation=act, d=d, law="gaussian", name=t)
        mu = parse_mean(mean, d)
        if scale is not None:
            positive_number(scale, "--target-scale")
        s = None if scale is None else str(scale).strip()
        if t in SCALAR_MEAN_FAMILIES and np.ptp(mu) != 0:
            raise CompverifyError(f"{t} takes one mean m (entries m + s xi), not a list")
        law = t[4:] if t.startswith("iid:") else "gaussian" if t == "gaussian" else None
        return cls(family=t, activation=act, d=d, law=law, mean=tuple(mu.tolist()), scale=s,
                   name=t, rule=rule)

    @property
    def rule_options(self) -> dict:
        """The rule options as keyword arguments."""
        return dict(self.rule)

    @property
    def mean_is_zero(self) -> bool:
        """Whether the weights have mean 0."""
        return self.mean is None or not any(self.mean)

    @property
    def mean_array(self) -> np.ndarray | None:
        """The mean as a float64 array (``None`` for mean 0 given as ``None``)."""
        return None if self.mean is None else np.array(self.mean, dtype=float)

    @property
    def scalar_mean(self) -> float:
        """The one mean ``m`` of i.i.d. entries ``m + s xi`` (0 for ``mean=None``)."""
        return 0.0 if self.mean is None else float(self.mean[0])

    @property
    def scale_float(self) -> float | None:
        """The scale as a float, ``None`` for ``1/sqrt(d)``."""
        return None if self.scale is None else float(self.scale)

    @property
    def label(self) -> str:
        """The family as the CLI spells it (the path for a file, with its ``[FIRST,SECOND]``)."""
        if self.family in FILE_LABELS:
            return self.path + (f"[{','.join(self.layers)}]" if self.layers else "")
        return self.family
