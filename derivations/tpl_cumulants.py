r"""Truncated power law (TPL): normalisation, moments, free cumulants, Stieltjes transform.

Paper: arXiv:2507.17912 App. A.7 (Existence of the Free R-Transform for Power-Law Spectra;
App. A.7.6 has a typo in the displayed ``G`` for ``alpha = 2``).

Density ``rho(x) = C x^{-alpha}`` on ``[a, b] = [lambda_min, lambda_max]``.

Derivation route:

1. ``C = 1 / int_a^b x^{-alpha} dx`` and ``m_k = C int_a^b x^{k - alpha} dx`` by sympy integration
   (general ``alpha``: ``m_k = C (b^{k+1-alpha} - a^{k+1-alpha})/(k+1-alpha)``; the logarithmic
   case ``k + 1 = alpha`` is the other branch of sympy's Piecewise).
2. Free cumulants from the moments with the relations of :mod:`derivations.moment_cumulant`;
   ``kappa_1, kappa_2`` for ``alpha = 2, 3, 4`` are compared with the closed forms of App. A.7.8.
3. ``G(z) = C int_a^b x^{-alpha}/(z - x) dx`` for integer ``alpha`` by partial fractions, the
   simple-pole term integrated with the principal logarithm (valid for ``z`` off ``[a, b]``):
   for ``alpha = 2``, ``G = C [ (1/z)(1/a - 1/b) + (1/z^2)(ln(b/a) + ln((z - a)/(z - b))) ]``.
   App. A.7.6's displayed formula has unbalanced parentheses and a stray ``lambda``; this is
   the corrected form. Checked against 30-digit quadrature of the density at points
   left of, right of and off the support, and through its large-``z`` expansion
   ``G = sum_k m_k / z^{k+1}``.
4. Bare (untruncated) tails ``rho = (alpha - 1) a^{alpha - 1} x^{-alpha}`` on ``[a, oo)``: the
   substitution ``x = a/y`` maps ``G`` to ``(alpha - 1) int_0^1 y^{alpha - 1}/(z y - a) dy``, a
   rational integral; the results are App. A.7.3's ``G_2, G_3, G_4``. Their finite moments give
   App. A.7.5's "R_3 = 2a" and "R_4 = 3a/2 + 3 a^2 w/4" as the analytic leading terms only.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from derivations import moment_cumulant
from derivations._base import (
    DPS,
    TOL,
    Checker,
    Derivation,
    integrate_rational,
    print_derivation,
    stieltjes_quadrature,
)

ALPHAS = (2, 3, 4)
K_MAX = 6        # moments m_1..m_6
K_CUMULANTS = 3  # free cumulants kept in closed form (higher ones: moment_cumulant relations)
# 30-digit quadrature cross-checks of G (a = 1, b = 10): left of, right of and off the support
QUAD_POINTS = {2: (sp.Rational(-1, 2), 3 + sp.I), 3: (12,), 4: (3 + sp.I,)}


def _tidy(expr: sp.Expr, a: sp.Symbol, b: sp.Symbol) -> sp.Expr:
    """Write the logarithms of ``a`` and ``b`` through ``ln(b/a)`` only, then factor."""
    ell = sp.Dummy("ell")
    e = sp.expand(sp.expand_log(expr, force=True).subs(sp.log(b), sp.log(a) + ell))
    return sp.factor(e).subs(ell, sp.log(b / a))


def _cumulants_from_moments(moments: list[sp.Expr], a: sp.Symbol, b: sp.Symbol) -> list[sp.Expr]:
    """Free cumulants ``kappa_1..kappa_n`` from ``[m_1..m_n]`` (relations derived to order 6)."""
    mc = moment_cumulant.derive()
    m_syms = mc.symbols["m"]
    sub = dict(zip(m_syms, moments, strict=False))
    return [_tidy(expr.subs(sub), a, b) for expr in mc["kappa_of_m"][: len(moments)]]


def a7_closed_forms(a: sp.Symbol, b: sp.Symbol) -> dict[int, tuple[sp.Expr, sp.Expr]]:
    """``(kappa_1, kappa_2)`` for alpha = 2, 3, 4 as printed in arXiv:2507.17912 App. A.7.8."""
    C2 = a * b / (b - a)
    k1_2 = C2 * sp.log(b / a)
    C3 = 2 * a**2 * b**2 / (b**2 - a**2)
    k1_3 = 2 * a * b / (a + b)
    C4 = 3 * a**3 * b**3 / (b**3 - a**3)
    k1_4 = 3 * a * b * (b**2 - a**2) / (2 * (b**3 - a**3))
    return {
        2: (k1_2, C2 * (b - a) - k1_2**2),
        3: (k1_3, C3 * sp.log(b / a) - k1_3**2),
        4: (k1_4, C4 * (1 / a - 1 / b) - k1_4**2),
    }


@cache
def derive() -> Derivation:
    a, b = sp.symbols("a b", positive=True)
    x = sp.Symbol("x", positive=True)
    z, w, t = sp.symbols("z w t")
    alpha = sp.Symbol("alpha", positive=True)
    k = sp.Symbol("k", positive=True, integer=True)
    u = sp.Symbol("u", positive=True)
    y = sp.Symbol("y", positive=True)
    chk = Checker()

    # step 1 (general alpha)
    C_gen = 1 / sp.integrate(x ** (-alpha), (x, a, b), conds="none")
    C_closed = (alpha - 1) / (a ** (1 - alpha) - b ** (1 - alpha))
    chk.zero(C_gen - C_closed, "C = (alpha-1)/(a^{1-alpha} - b^{1-alpha})")
    mk_pw = sp.integrate(x ** (k - alpha), (x, a, b))
    mk_generic = [expr for expr, cond in mk_pw.args if cond != sp.true][0]
    m_general = C_closed * (b ** (k + 1 - alpha) - a ** (k + 1 - alpha)) / (k + 1 - alpha)
    chk.zero(C_closed * mk_generic - m_general,
             "m_k = C (b^{k+1-alpha} - a^{k+1-alpha})/(k+1-alpha)")
    m_log = C_closed * sp.log(b / a)
    chk.zero(sp.expand_log(C_closed * [e for e, c in mk_pw.args if c == sp.true][0] - m_log,
                           force=True), "m_k = C ln(b/a) when k + 1 = alpha")

    by_alpha: dict[int, dict[str, sp.Basic]] = {}
    a7 = a7_closed_forms(a, b)
    num_pts = [{a: 1, b: 10}, {a: sp.Rational(1, 3), b: sp.Rational(7, 2)}]
    for al in ALPHAS:
        C = sp.simplify(1 / sp.integrate(x ** (-al), (x, a, b)))
        moments = [_tidy(C * sp.integrate(x ** (j - al), (x, a, b)), a, b)
                   for j in range(1, K_MAX + 1)]
        for j, mj in enumerate(moments, start=1):
            target = (m_log if j + 1 == al else m_general.subs(k, j)).subs(alpha, al)
            chk.zero_numeric(mj - target, num_pts, f"alpha={al}: m_{j} = general formula")
        kappas = _cumulants_from_moments(moments[:K_CUMULANTS], a, b)
        k1_a7, k2_a7 = a7[al]
        chk.zero_numeric(kappas[0] - k1_a7, num_pts, f"alpha={al}: kappa_1 = A.7.8 closed form")
        chk.zero_numeric(kappas[1] - k2_a7, num_pts, f"alpha={al}: kappa_2 = A.7.8 closed form")
        chk.zero(sp.expand_log(sp.simplify(kappas[0] - k1_a7), force=True),
                 f"alpha={al}: kappa_1 = App. A.7.8 (symbolic)")

        # step 3: Stieltjes transform by partial fractions
        G = sp.simplify(C) * integrate_rational(x ** (-al) / (z - x), x, a, b)
        # large-z expansion reproduces the moments
        G_inf = sp.expand(sp.series(G.subs(z, 1 / u), u, 0, 5).removeO())
        chk.zero(sp.simplify(G_inf.coeff(u, 1)) - 1, f"alpha={al}: G = 1/z + ...")
        for j in range(1, 4):
            chk.zero_numeric(G_inf.coeff(u, j + 1) - moments[j - 1], num_pts,
                             f"alpha={al}: [z^-{j + 1}] G = m_{j}")
        rho = C * x ** (-al)
        for zv in QUAD_POINTS[al]:
            pt = {a: 1, b: 10}
            qv = stieltjes_quadrature(rho.subs(pt), x, 1, 10, zv)
            gv = sp.N(G.subs(pt).subs(z, zv), DPS)
            chk.true(abs(qv - gv) < TOL, f"alpha={al}: G(z) = quadrature at a=1, b=10, z={zv}")
        R_series = sum(kappas[j] * w**j for j in range(K_CUMULANTS))
        by_alpha[al] = {"C": C, "moments": tuple(moments), "free_cumulants": tuple(kappas),
                        "G": G, "R_series": R_series}

    # corrected alpha = 2 closed form (App. A.7.6 misprints it)
    C2 = a * b / (b - a)
    G2_closed = C2 * ((1 / z) * (1 / a - 1 / b)
                      + (sp.log(b / a) + sp.log((z - a) / (z - b))) / z**2)
    chk.zero_numeric(by_alpha[2]["G"] - G2_closed,
                     [{a: 1, b: 10, z: zv} for zv in (-3, 11, 2 + 3 * sp.I, 5 - sp.I)],
                     "alpha=2: derived G = corrected closed form of App. A.7.6")
    chk.zero(sp.simplify(C2 * (1 / a - 1 / b)) - 1, "alpha=2: leading term of G is exactly 1/z")

    # step 4: bare tails on [a, oo) via x = a/y
    bare: dict[int, sp.Expr] = {}
    a7_bare = {
        2: 1 / z + a * sp.log(1 - z / a) / z**2,
        3: 1 / z + 2 * a / z**2 + 2 * a**2 * sp.log(1 - z / a) / z**3,
        4: 1 / z + 3 * a / (2 * z**2) + 3 * a**2 / z**3 + 3 * a**3 * sp.log(1 - z / a) / z**4,
    }
    xx = sp.Symbol("x", positive=True)
    for al in ALPHAS:
        integrand_x = (al - 1) * a ** (al - 1) * xx ** (-al) / (z - xx)
        # substitution x = a/y, dx = -a/y^2 dy, (a, oo) -> (1, 0)
        integrand_y = sp.simplify(integrand_x.subs(xx, a / y) * a / y**2)
        chk.zero(integrand_y - (al - 1) * y ** (al - 1) / (z * y - a), f"bare alpha={al}: x = a/y")
        Gb = integrate_rational(integrand_y, y, 0, 1)
        chk.zero_numeric(Gb - a7_bare[al],
                         [{a: 1, z: -2}, {a: 2, z: 1 + sp.I}, {a: sp.Rational(1, 2), z: -sp.I}],
                         f"bare alpha={al}: G equals App. A.7.3")
        bare[al] = a7_bare[al]
    # bare-tail finite moments and App. A.7.5's leading R terms
    bare_m = {al: [(al - 1) * a**j / (al - j - 1) for j in range(1, al - 1)] for al in ALPHAS}
    chk.zero(bare_m[3][0] - 2 * a, "bare alpha=3: kappa_1 = 2a (A.7.5 'R_3 = 2a' leading term)")
    chk.zero(bare_m[4][0] - 3 * a / 2, "bare alpha=4: kappa_1 = 3a/2")
    chk.zero(bare_m[4][1] - bare_m[4][0] ** 2 - 3 * a**2 / 4,
             "bare alpha=4: kappa_2 = 3a^2/4 (App. A.7.5 'R_4 = 3a/2 + 3a^2 w/4' leading terms)")
    # bare alpha=3: G - (1/z + m1/z^2) = 2 a^2 ln(1 - z/a)/z^3 is not analytic at z = oo
    chk.true(sp.series(bare[3].subs(z, 1 / u), u, 0, 4).has(sp.log),
             "bare alpha=3: expansion at infinity has a log term (no analytic R beyond kappa_1)")

    results: dict[str, sp.Basic] = {
        "C_general": C_closed,
        "moment_general": m_general,
        "moment_log_case": m_log,
        "G_alpha2": G2_closed,
    }
    for al in ALPHAS:
        for key, val in by_alpha[al].items():
            results[f"{key}_alpha{al}"] = val
        results[f"G_bare_alpha{al}"] = bare[al]
    return Derivation(
        name="tpl_cumulants",
        title="Truncated power law: moments, free cumulants, Stieltjes transform",
        source=("arXiv:2507.17912 App. A.7 (truncated power law), "
                "App. A.7.6 (misprinted G for alpha = 2)"),
        symbols={"a": a, "b": b, "z": z, "w": w, "t": t, "alpha": alpha, "k": k},
        results=results,
        checks=tuple(chk.passed),
    )


def main() -> None:
    print_derivation(derive())


if __name__ == "__main__":
    main()
