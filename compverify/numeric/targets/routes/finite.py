"""Route ``finite``: a network from a file, by exact kernel sums.

An ``.npz`` file with arrays ``a`` (N,) and ``W`` (N, d), or the two weights ``W1`` (N, d),
``W2`` (1, N) of a ``.safetensors`` file (``a = W2[0]``, ``W = W1``;
:mod:`compverify.numeric.model_files`).
"""

from __future__ import annotations

from compverify.numeric.finite_network import FiniteNetwork, load_npz
from compverify.numeric.model_files import load_safetensors
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.spec import NPZ, SAFETENSORS, TargetSpec


def build(spec: TargetSpec) -> FiniteNetwork:
    if spec.family == SAFETENSORS:
        return load_safetensors(spec.path, spec.activation, spec.layers)
    return load_npz(spec.path, spec.activation)


ROUTE = Route(
    name="finite", families=(NPZ, SAFETENSORS), activations="any", condition="",
    precision="exact",
    description="exact kernel sums `h = sum_i a_i K(w_i, .)` (`numeric/finite_network.py`, "
                "`numeric/kernel_sums.py`)",
    accepts=lambda spec: True, build=build)

__all__ = ["ROUTE", "build"]
