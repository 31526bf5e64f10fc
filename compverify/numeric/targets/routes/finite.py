"""Route ``finite``: an ``.npz`` file with arrays ``a`` (N,) and ``W`` (N, d), by exact kernel sums."""

from __future__ import annotations

from compverify.numeric.finite_network import FiniteNetwork, load_npz
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.spec import NPZ, TargetSpec


def build(spec: TargetSpec) -> FiniteNetwork:
    return load_npz(spec.path, spec.activation)


ROUTE = Route(
    name="finite", families=(NPZ,), activations="any", condition="",
    precision="exact",
    description="exact kernel sums `h = sum_i a_i K(w_i, .)` (`numeric/finite_network.py`, "
                "`numeric/kernel_sums.py`)",
    accepts=lambda spec: True, build=build)

__all__ = ["ROUTE", "build"]
