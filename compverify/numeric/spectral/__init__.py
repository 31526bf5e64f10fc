"""Mean-field targets of i.i.d. weight entries by a spectral (two-frequency) quadrature.

Setting: weights ``w`` with i.i.d. entries of a scalar law (``rademacher`` ``m +- s``, ``uniform``,
or ``gaussian`` ``N(m, s^2)``; a Gaussian ``N(mu, s^2 I)`` with any mean vector runs in the frame of
the reflection that takes ``mu`` to ``|mu|/sqrt(d) 1``, and :class:`GaussianSpectralTarget` serves
Gaussian targets with smooth activations in multiprecision), mean second
layer ``abar``, inputs ``x ~ N(0, I_d)``, and an activation with a spectral form
``sigma(z) = c0 + c1 z + int_0^inf p(w) (1 - cos(w z)) dw + int_0^inf q(w) sin(w z) dw``
(:mod:`compverify.symbolic.spectral`: relu, abs, leaky_relu, step, sign, tanh, sigmoid, erf, gelu,
silu; the even density is ``p = c2 (2/pi)/w^2`` for a ``c2 |z|`` part, plus the densities of even
atoms ``z tanh(l z)``, ``z erf(l z)``), or the degree-2 form ``c_square z^2 + c_zabs z|z|``
(relu_power:2; below).

With ``E_x cos(<u, x>) = exp(-|u|^2/2)`` the expectation over the inputs becomes one over two
frequencies ``(w1, w2)`` of Gaussians in ``w1 w +- w2 v``, and a Gaussian in ``w`` factors over the
coordinates of ``w``::

    f(w1, t)  = E exp(-(w1 w_k + t)^2 / 2)                       (one coordinate; closed form)
    P(+-)     = prod_k f(w1, +-w2 v_k),   B = f(w1, 0)^d exp(-w2^2 |v|^2 / 2)
    E_w E_x e(A) e(B) = Ee G(v) + int int p(w1) p(w2) [(P(+) + P(-))/2 - B]     (e the even part)
    E_w E_x s(A) s(B) = int int q(w1) q(w2) [P(-) - P(+)] / 2                 (s the odd part)
    h(v) = abar [c0^2 + c0 (Ee + G(v)) + c1^2 m sum(v) + E e(A) e(B) + E s(A) s(B)]

with ``G(v) = E_x e(<v, x>) = int p(w) (1 - exp(-w^2 |v|^2/2)) dw`` (``c2 sqrt(2/pi) |v|`` for the
``|z|`` part, the same rule in one frequency for the atoms) and ``Ee = E_w G(w) = c2 sqrt(2/pi)
E|w| + int p_atoms(w) (1 - f(w, 0)^d) dw`` (mpmath quad).  (``A = <w, x>``, ``B = <v, x>``; the
other cross terms vanish by ``x -> -x``; an activation with both ``c1`` and an odd part, or an
even atom and an odd part, is not supported.)  ``C`` for rademacher entries and a closed-form
kernel is the exact sum over sign-count classes (:func:`rademacher_C`); otherwise the same
two-frequency rule with ``E exp(-(w1 w + w2 w')^2/2)`` per coordinate (numeric kernels cost
seconds per multiprecision value, and their activations are analytic, so the rule converges).
``E|w| = (d / sqrt(pi)) int_0^inf lam^(-1/2) E[w^2 e^(-lam w^2)] E[e^(-lam w^2)]^(d-1) dlam``
(mpmath quad).

*Degree 2.*  ``z|z| = (4/pi) int_0^inf (w z - sin(w z))/w^3 dw``; with ``E_x[A sin(w2 B)] = <u, v> w2
exp(-w2^2 |v|^2/2)`` (Stein) the kernel of ``z|z|`` is ``(8/pi) <u, v> |u| |v| + (16/pi^2) int int
e1 e2 (sinh(w1 w2 <u, v>) - w1 w2 <u, v>)/(w1 w2)^3`` (``e1 = exp(-w1^2 |u|^2/2)``), and the cross
terms with ``z^2`` vanish (``x -> -x``).  Averaged over ``w``: ``c_square^2 E[A^2 B^2]`` and ``(8/pi)
E[w_1 |w|] |v| sum(v)`` in closed form (``E[w_1 |w|]`` by mpmath quad), and the rule's integrand is
``B (e^S sinh O - O_lin)`` with ``O_lin = w1 w2 lam(w1) sum(v)``, ``lam = -E_tilt w``: third order
near the axes, so float64 writes it ``B (expm1(S) sinh O + (sinh O - O) + O3)`` with ``O3 = O -
O_lin`` from each law without cancellation (:meth:`_Law.o3`; series where the argument is small),
and the gradient's ``O' Bu - lam B`` as ``(O' - lam) Bu + lam (Bu - B)``.  Measured: Rademacher d = 6
and d = 13 against the exact 2^d sums to float64 rounding (atoms taken exactly), 3e-25 with the
finer rule in mpmath; uniform d = 1 against its closed form 2e-11 (finer rule 4e-14).

*Degree n >= 3* (relu_power:n; :mod:`compverify.numeric.spectral_power`).  ``sigma = c_mono z^n +
c_rho rho_n(z)``; the rule part ``"pow"`` has the integrand ``B (E_tilt cosh(t X) - T_n(t))`` (sinh
for even n) with density ``(c_rho/I_n)^2 / (w1 w2)^(n+1)``, ``T_n`` from the tilted law's cumulants,
and the kernel's Hermite terms of order below n averaged outside the rule (power-sum polynomials
whose coefficients are one-dimensional quadratures).  Its cancellation, ``(n+1)`` orders near the
axes, is absorbed by the working precision only: these targets are multiprecision
(:class:`PowerSpectralTarget` searches on the QMC rule); float64 ``_parts`` give node bounds for
choosing nodes and the edge terms.  Measured against exact 2^d sums (d = 4, 13) and quadrature
(uniform d = 1): 1e-24 to 1e-30 with the finer rule for Rademacher, 1e-14 to 1e-16 for uniform d = 1.

>>> import numpy as np
>>> t = SpectralTarget("relu", 3, "rademacher", mean=0.2)
>>> v = np.array([[0.5, -0.2, 0.4]])
>>> bool(t.h_error(v)[0] < 1e-5)
True

Modules: :mod:`.rule` (the frequency rule: nodes, levels, error estimates), :mod:`.laws` (the
scalar laws of the entries), :mod:`.stable` (cancellation-free elementary functions),
:mod:`.arith` (the arb and mpmath arithmetics), :mod:`.float64` and :mod:`.multiprecision` (the
two evaluations of the rule), :mod:`.atoms` (the Rademacher atoms taken exactly),
:mod:`.constant` (``C``), :mod:`.targets` (the target classes).
"""

from __future__ import annotations

from compverify.numeric.spectral.arith import _ArbArith, _MpArith
from compverify.numeric.spectral.constant import rademacher_C
from compverify.numeric.spectral.laws import LAWS, _Gaussian, _Rademacher, _Uniform
from compverify.numeric.spectral.rule import (
    ATOM_CAP,
    ATOM_GAP,
    SAFETY,
    STEP,
    X_LO,
    X_LO_FINE,
    supports,
    x_hi,
)
from compverify.numeric.spectral.targets import (
    GaussianSpectralTarget,
    PowerSpectralTarget,
    SpectralTarget,
    spectral_target,
)

__all__ = ["SpectralTarget", "GaussianSpectralTarget", "PowerSpectralTarget", "spectral_target",
           "supports", "rademacher_C", "LAWS", "STEP", "X_LO", "X_LO_FINE", "SAFETY", "ATOM_GAP",
           "ATOM_CAP", "x_hi", "_MpArith", "_ArbArith", "_Rademacher", "_Uniform", "_Gaussian"]
