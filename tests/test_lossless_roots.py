"""Root counting by branch and bound with the Krawczyk test (ReLU hidden layer, tau = 1).

The proved zero enclosure must contain the root found independently by the multi-start Newton
solver at 40 digits; a box without that root must prove 0 roots; a tampered certificate (changed
verdict, removed leaf, raised count) must fail the checker.
"""

import copy

import mpmath
import pytest

from compverify.numeric.lossless_matching import hidden_system
from compverify.numeric.lossless_moments import gaussian_moments
from compverify.proofs_check.lossless_roots import check_root_count, count_roots


@pytest.fixture(scope="module")
def relu_system():
    mom = gaussian_moments("relu", 1, dps=40)
    return hidden_system(mom), mom.error


@pytest.fixture(scope="module")
def near_root(relu_system):
    system, err = relu_system
    return count_roots(system, err, box=[(0.9, 1.1), (2.1, 2.3), (-2.5, -2.3)])


@pytest.mark.slow
def test_one_root_proved_and_it_is_the_solvers(relu_system, near_root):
    system, _ = relu_system
    c = near_root
    assert c["proved"] and c["roots"] == 1 and c["counts"]["unique"] == 1
    with mpmath.workdps(40):  # Newton in mpmath, the solver's own residual and Jacobian
        x = mpmath.findroot(lambda *v: system.residual_mp(v), (1, 2.2, -2.4),
                            J=lambda *v: system.jacobian_mp(v))
        assert mpmath.norm(system.residual_mp(x)) < mpmath.mpf(10)**-35
    for (lo, hi), xi in zip(c["enclosures"][0], x, strict=True):
        assert mpmath.mpf(lo) <= xi <= mpmath.mpf(hi)
    assert check_root_count(c)[0]


@pytest.mark.slow
def test_tampered_certificates_fail(near_root):
    c = near_root
    bad = copy.deepcopy(c)
    i = next(k for k, leaf in enumerate(bad["leaves"]) if leaf[1] == "exclude")
    bad["leaves"][i][1] = "empty"
    assert not check_root_count(bad)[0]
    bad = copy.deepcopy(c)
    del bad["leaves"][i]
    ok, msg = check_root_count(bad)
    assert not ok and "volume" in msg
    bad = copy.deepcopy(c)
    bad["roots"] = 2
    assert not check_root_count(bad)[0]


@pytest.mark.slow
def test_a_box_without_the_root_has_none(relu_system):
    system, err = relu_system
    c = count_roots(system, err, box=[(-1.0, 0.0), (0.5, 1.0), (1.0, 2.0)])
    assert c["proved"] and c["roots"] == 0 and c["counts"]["unique"] == 0
    assert check_root_count(c)[0]
