r"""Multiplicative-Wishart (MW) R-transform: where it comes from, its integral, series and poles.

Paper: arXiv:2507.17912 Table 8, row "Multiplicative-Wishart", and Sec. 5.4.6 (two real
nonzero parameters ``epsilon, phi``, citing Pennington & Worah / Pennington & Bahri):

    R_paper(z) = epsilon phi z^2 / (2 - epsilon phi^2 z^2).

The paper gives no derivation. What this module derives:

1. *Origin.* The rank-one free Poisson route (Nica & Speicher 2006, Lect. 12; Potters &
   Bouchaud 2020, ch. 4): a rank-one ``N x N`` matrix with nonzero eigenvalue ``t`` has spectral
   measure ``(1 - 1/N) delta_0 + (1/N) delta_t``, whose R-transform is
   ``(1/N) t/(1 - t w) + O(1/N^2)`` (derived below by inverting ``G`` to first order). A sum of
   ``n`` asymptotically free such terms, ``X = (1/n) sum_{i<=n} d_i u_i u_i^T`` with
   ``u_i ~ N(0, I_N)`` (eigenvalue ``t_i = phi d_i``, ``phi = N/n``), therefore has
   ``R(w) = E[d / (1 - phi d w)]``. With ``d = sigma^2`` this reproduces the Marchenko-Pastur
   ``R`` of :mod:`derivations.mp_stieltjes_and_r` (consistency check). With random signs
   ``d = +- sqrt(epsilon/2)`` (a Gauss-Newton-like Wishart with signed weights, as for the
   residual part of a Hessian) it gives

       R(w) = epsilon phi w / (2 - epsilon phi^2 w^2),

   i.e. the paper's expression divided by ``w``. So **the Table 8 row equals ``w R(w)``**: it is
   written in the Nica-Speicher convention ``calR(w) = sum_n kappa_n w^n`` while every other row
   of the table (and docs/spectral_models.md) uses ``R(w) = sum_n kappa_n w^{n-1}``
   (``B = R + 1/w``).
2. *Why the paper's form cannot be an R-transform in the table's convention.* Taken literally,
   ``R_paper`` has ``kappa_1 = kappa_2 = 0`` and ``kappa_3 = epsilon phi / 2 != 0``. Then
   ``m_2 = kappa_2 + kappa_1^2 = 0`` forces the measure to be ``delta_0``, whose ``m_3 = 0``,
   while the moment-cumulant relation gives ``m_3 = kappa_3 != 0`` - a contradiction (checked).
   The derived ``R`` has ``kappa_{2k} = (epsilon/2)^k phi^{2k-1}`` and zero odd cumulants: a
   symmetric (centred, Hessian-like) spectrum with variance ``epsilon phi / 2`` (``epsilon > 0``).
3. *Integrals*, by sympy integration and checked by differentiation, for
   ``epsilon > 0`` and ``|z| < sqrt(2/epsilon)/phi`` (the poles of both forms):
   ``int_0^z R_paper = -z/phi + (1/phi^2) sqrt(2/epsilon) artanh(z phi sqrt(epsilon/2))`` and
   ``int_0^z R = -(1/(2 phi)) ln(1 - epsilon phi^2 z^2 / 2)``.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from derivations._base import Checker, Derivation, print_derivation, series_coeffs

K_MAX = 8


@cache
def derive() -> Derivation:
    z, w, t = sp.symbols("z w t")
    eps, phi = sp.symbols("epsilon phi", positive=True)
    n_eps = sp.Symbol("eta", positive=True)  # eta = 1/N bookkeeping parameter
    d, sigma = sp.symbols("d sigma", positive=True)
    r1 = sp.Symbol("r1")
    chk = Checker()

    R_paper = eps * phi * z**2 / (2 - eps * phi**2 * z**2)

    # step 1a: R-transform of (1 - eta) delta_0 + eta delta_t to first order in eta
    tt = sp.Symbol("t_1", positive=True)
    G1 = (1 - n_eps) / z + n_eps / (z - tt)
    B_trial = 1 / w + n_eps * r1
    eq = sp.series(G1.subs(z, B_trial) - w, n_eps, 0, 2).removeO()
    chk.zero(eq.coeff(n_eps, 0), "order eta^0: G(1/w) = w")
    r1_sol = sp.solve(sp.expand(eq.coeff(n_eps, 1)), r1)
    chk.true(len(r1_sol) == 1, "order eta^1 fixes the correction uniquely")
    chk.zero(r1_sol[0] - tt / (1 - tt * w), "rank-one R = eta t/(1 - t w) + O(eta^2)")
    # step 1b: n = N/phi free copies, t = phi d  =>  R(w) = (n/N) E[phi d/(1 - phi d w)]
    R_rank_one_sum = (1 / phi) * (phi * d) / (1 - phi * d * w)   # for one value of d

    def R_of(dist: list[tuple[sp.Expr, sp.Expr]]) -> sp.Expr:
        return sp.simplify(sum(p * R_rank_one_sum.subs(d, dv) for dv, p in dist))

    R_mp = R_of([(sigma**2, 1)])
    chk.zero(R_mp - sigma**2 / (1 - phi * sigma**2 * w),
             "d = sigma^2 reproduces Marchenko-Pastur R with c = phi")
    delta = sp.sqrt(eps / 2)
    R_derived = R_of([(delta, sp.Rational(1, 2)), (-delta, sp.Rational(1, 2))])
    R_closed = eps * phi * w / (2 - eps * phi**2 * w**2)
    chk.zero(R_derived - R_closed, "d = +-sqrt(eps/2): R(w) = eps phi w/(2 - eps phi^2 w^2)")
    chk.zero(R_paper.subs(z, w) - w * R_closed, "Table 8 form = w R(w) (Nica-Speicher calR)")

    # step 2: cumulants of both readings
    k_paper = series_coeffs(R_paper, z, K_MAX)   # coefficient of z^{n-1} -> kappa_n
    k_derived = series_coeffs(R_closed, w, K_MAX)
    chk.true(k_paper[0] == 0 and k_paper[1] == 0 and sp.simplify(k_paper[2] - eps * phi / 2) == 0,
             "literal Table 8 form: kappa_1 = kappa_2 = 0, kappa_3 = eps phi/2")
    m1 = k_paper[0]
    m2 = k_paper[1] + k_paper[0] ** 2
    m3 = k_paper[2] + 3 * k_paper[0] * k_paper[1] + k_paper[0] ** 3
    chk.true(m2 == 0 and sp.simplify(m3 - eps * phi / 2) == 0 and m1 == 0,
             "literal form: m_2 = 0 but m_3 = eps phi/2 != 0 (impossible for a measure)")
    for j in range(K_MAX):
        n = j + 1
        target = (eps / 2) ** (n // 2) * phi ** (n - 1) if n % 2 == 0 else 0
        chk.zero(k_derived[j] - target, f"derived kappa_{n}")

    # poles
    poles = sp.solve(2 - eps * phi**2 * z**2, z)
    pole = sp.sqrt(2 / eps) / phi
    chk.true(set(sp.simplify(p) for p in poles) == {pole, -pole}, "poles z = +-sqrt(2/eps)/phi")

    # step 3: integrals
    zr = sp.Symbol("z", real=True)
    I_paper_sympy = sp.integrate(R_paper.subs(z, t), (t, 0, zr))
    I_paper = -zr / phi + sp.sqrt(2 / eps) / phi**2 * sp.atanh(zr * phi * sp.sqrt(eps / 2))
    chk.zero(sp.diff(I_paper, zr) - R_paper.subs(z, zr), "d/dz int R_paper = R_paper")
    chk.zero(I_paper.subs(zr, 0), "int_0^0 R_paper = 0")
    pts = [{eps: sp.Rational(1, 2), phi: sp.Rational(3, 2), zr: sp.Rational(1, 2)},
           {eps: 2, phi: sp.Rational(1, 3), zr: -1}]
    chk.zero_numeric(I_paper_sympy - I_paper, pts, "sympy integral of R_paper = closed form")
    I_derived_sympy = sp.integrate(R_closed.subs(w, t), (t, 0, zr))
    I_derived = -sp.log(1 - eps * phi**2 * zr**2 / 2) / (2 * phi)
    chk.zero(sp.diff(I_derived, zr) - R_closed.subs(w, zr), "d/dz int R = R")
    chk.zero_numeric(I_derived_sympy - I_derived, pts, "sympy integral of R = closed form")

    return Derivation(
        name="multiplicative_wishart_r",
        title="Multiplicative-Wishart R-transform: origin, convention, integrals",
        source="arXiv:2507.17912 Table 8, Sec. 5.4.6; Nica & Speicher 2006 Lect. 12 [NS2006]",
        symbols={"z": zr, "w": w, "epsilon": eps, "phi": phi},
        results={
            "R_paper": R_paper.subs(z, w),
            "R": R_closed,
            "R_rank_one_first_order": tt / (1 - tt * w),
            "free_cumulants_paper_literal": tuple(k_paper),
            "free_cumulants": tuple(k_derived),
            "poles": (pole, -pole),
            "R_paper_integrated": I_paper,
            "R_integrated": I_derived,
        },
        checks=tuple(chk.passed),
        notes=("The Table 8 entry is w R(w) (Nica-Speicher convention); literally read as R it has "
               "kappa_2 = 0 and kappa_3 != 0, which no probability measure has."),
    )


def main() -> None:
    print_derivation(derive())


if __name__ == "__main__":
    main()
