r"""Inverse Marchenko-Pastur (IMP): R-transform derived from the MP law of the inverse matrix.

Paper: arXiv:2507.17912 Sec. 5.4.5 (Inverse Marchenko-Pastur Model of Ideal Learning), Table 8
(citing Bun's thesis, [Bun2016] in docs/references.md), App. A.8 (The Inverse-MP (IMP) Model);
docs/spectral_models.md ("The inverse Marchenko-Pastur branch cut").

Setting: ``X`` is MP with ``sigma^2 = 1`` and ratio ``q = M/N < 1`` (``Q = 1/q``);
``Y = (1 - q) X^{-1}`` (normalised to mean 1).

Derivation route:

1. ``1/(z - (1-q)/x) = (1/z) (1 + a/(x - a))`` with ``a = (1-q)/z`` (checked), so integrating
   against ``rho_X`` gives ``G_Y(z) = (1/z) (1 - a G_X(a))``, i.e.
   ``G_X(a) = z (1 - z G_Y(z)) / (1 - q)``.
2. Substituting into the MP quadratic ``q a g^2 - (a - (1-q)) g + 1 = 0`` (derived in
   :mod:`derivations.mp_stieltjes_and_r`) gives the IMP quadratic for ``G_Y``.
3. With ``q = 1/(1 + 2 kappa)``, i.e. ``kappa = (1-q)/(2q) = (Q-1)/2``, the quadratic becomes
   ``z^2 G^2 - 2((1+kappa) z - kappa) G + (1 + 2 kappa) = 0``; its discriminant vanishes at the
   edges ``x_pm = (kappa + 1 pm sqrt(2 kappa + 1))/kappa``; the root with ``G ~ 1/z`` gives the
   density ``kappa sqrt((x - x_-)(x_+ - x)) / (pi x^2)``.
4. The quadratic is quadratic in ``z`` too: solving for ``z`` at ``G = w`` gives two Blue
   branches; the one with ``B(w) - 1/w`` regular at ``w = 0`` (``R(0) = m_1 = 1``) is
   ``R(w) = (kappa - sqrt(kappa (kappa - 2 w)))/w``.
5. Branch point ``w = kappa/2`` (radicand vanishes); beyond it on the real axis
   ``sqrt(kappa(kappa - 2w)) = pm i sqrt(kappa(2w - kappa))`` so ``Re R = kappa/w``.
6. Antiderivative: with ``s = sqrt(kappa(kappa - 2z))``, ``z = (kappa^2 - s^2)/(2 kappa)``,
   ``R dz = -2 s/(kappa + s) ds``, so ``int R dz = 2 kappa ln(kappa + s) - 2 s`` (+ const),
   real and branch-free for ``z <= kappa/2``; beyond the cut its real part continues as
   ``kappa ln(2 kappa z)`` (continuous at ``kappa/2``, derivative ``kappa/z``). An alternative
   antiderivative ``kappa ln z - [2 s + kappa ln((kappa - s)/(kappa + s))]`` differs by the constant
   ``kappa ln(2 kappa)`` on ``0 < z < kappa/2`` (checked).
7. The real R-branch is only reached up to ``w_max = G_Y(x_+) = s (s - 1)/(s + 1)``,
   ``s = sqrt(2 kappa + 1)``; ``w_max / (kappa/2) = 4 s/(s + 1)^2 < 1``: the physical branch
   ends before the branch point, although the paper integrates ``R`` over eigenvalues
   (arXiv:2507.17912 Eq. (132); docs/quality.md, "Decisions and paper inconsistencies met
   here").
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from derivations._base import (
    DPS,
    TOL,
    Checker,
    Derivation,
    print_derivation,
    series_coeffs,
    stieltjes_quadrature,
)

K_MAX = 6


def imp_layer_antiderivative(z: sp.Basic, kappa: sp.Basic) -> sp.Piecewise:
    """Real antiderivative ``A(z)`` of ``Re R_IMP`` on the real line (continuous at kappa/2)."""
    s = sp.sqrt(kappa * (kappa - 2 * z))
    return sp.Piecewise(
        (2 * kappa * sp.log(kappa + s) - 2 * s, z <= kappa / 2),
        (kappa * sp.log(2 * kappa * z), True),
    )


@cache
def derive() -> Derivation:
    z, w, x, a = sp.symbols("z w x a")
    q = sp.Symbol("q", positive=True)
    kappa = sp.Symbol("kappa", positive=True)
    Q = sp.Symbol("Q", positive=True)
    g, GY = sp.symbols("g G_Y")
    u = sp.Symbol("u", positive=True)
    chk = Checker()

    # step 1: Stieltjes transform of Y = (1-q)/X in terms of that of X
    a_of_z = (1 - q) / z
    chk.zero(1 / (z - (1 - q) / x) - (1 / z) * (1 + a_of_z / (x - a_of_z)),
             "1/(z - (1-q)/x) = (1/z)(1 + a/(x - a))")
    # int rho_X(x) dx / (x - a) = -G_X(a)  =>  G_Y = (1/z)(1 - a G_X(a))
    gX_of_GY = sp.solve(sp.Eq(GY, (1 - a_of_z * g) / z), g)[0]

    # step 2: MP quadratic (sigma^2 = 1, ratio q) at argument a
    mp_quad = q * a * g**2 - (a - (1 - q)) * g + 1
    imp_eq = sp.factor(sp.numer(sp.together(mp_quad.subs(g, gX_of_GY).subs(a, a_of_z))))
    imp_quad_q = q * z**2 * GY**2 - ((1 + q) * z - (1 - q)) * GY + 1
    chk.zero(sp.simplify(imp_eq / imp_quad_q).diff(GY),
             "substituted MP quadratic is proportional to the IMP quadratic (q form)")

    # step 3: kappa parametrisation, edges, density
    q_of_kappa = 1 / (1 + 2 * kappa)
    chk.zero(((1 - q) / (2 * q)).subs(q, q_of_kappa) - kappa, "kappa = (1-q)/(2q)")
    chk.zero(((Q - 1) / 2).subs(Q, 1 / q_of_kappa) - kappa, "kappa = (Q-1)/2")
    imp_quad = sp.expand(imp_quad_q.subs(q, q_of_kappa) * (1 + 2 * kappa))
    imp_quad_target = z**2 * GY**2 - 2 * ((1 + kappa) * z - kappa) * GY + (1 + 2 * kappa)
    chk.zero(imp_quad - imp_quad_target, "IMP quadratic (kappa form)")
    x_p = (kappa + 1 + sp.sqrt(2 * kappa + 1)) / kappa
    x_m = (kappa + 1 - sp.sqrt(2 * kappa + 1)) / kappa
    disc = sp.discriminant(imp_quad_target, GY)
    chk.zero(disc - 4 * kappa**2 * (z - x_p) * (z - x_m),
             "discriminant = 4 kappa^2 (z - x_+)(z - x_-)")
    roots = sp.solve(imp_quad_target, GY)
    physical = [r for r in roots if sp.limit(r.subs(z, 1 / u) / u, u, 0, "+") == 1]
    chk.true(len(physical) == 1, "exactly one root with G ~ 1/z")
    G_closed = ((1 + kappa) * z - kappa - kappa * sp.sqrt(z - x_p) * sp.sqrt(z - x_m)) / z**2
    chk.zero(sp.expand(imp_quad_target.subs(GY, G_closed)), "closed-form G solves the quadratic")
    pts = [{kappa: sp.Rational(3, 2), z: 5}, {kappa: sp.Rational(1, 2), z: 7}]
    chk.zero_numeric(physical[0] - G_closed, pts, "picked root = product-of-roots form (z > x_+)")
    xr = sp.Symbol("x", positive=True)
    rho = kappa * sp.sqrt((xr - x_m) * (x_p - xr)) / (sp.pi * xr**2)
    # independent check off the support (incl. z < x_- and complex z): quadrature of the density
    for kv, zv in [(3, -2), (sp.Rational(3, 2), 1 + sp.I)]:
        quad_val = stieltjes_quadrature(rho.subs(kappa, kv), xr, x_m.subs(kappa, kv),
                                        x_p.subs(kappa, kv), zv)
        chk.true(abs(quad_val - sp.N(G_closed.subs({kappa: kv, z: zv}), DPS)) < TOL,
                 f"G(z) = int rho/(z-x) by quadrature at kappa={kv}, z={zv}")
    for kv, xv in [(sp.Rational(3, 2), 2), (sp.Rational(1, 2), 1), (4, sp.Rational(6, 5))]:
        gval = sp.N(G_closed.subs({kappa: kv, z: xv + sp.I * sp.Rational(1, 10**40)}), DPS)
        rval = sp.N(rho.subs({kappa: kv, xr: xv}), DPS)
        chk.true(abs(-sp.im(gval) / sp.pi - rval) < TOL and rval > 0,
                 f"rho = -(1/pi) Im G(x+i0) at kappa={kv}, x={xv}")

    # step 4: Blue function and R
    B_branches = sp.solve(imp_quad_target.subs(GY, w), z)
    chk.true(len(B_branches) == 2, "two Blue branches")
    R_target = (kappa - sp.sqrt(kappa * (kappa - 2 * w))) / w
    R_regular = []
    for Bb in B_branches:
        Rb = Bb - 1 / w
        lim = sp.limit(Rb, w, 0, "+")
        if lim.is_finite:
            R_regular.append(Rb)
            chk.zero(lim - 1, "R(0) = 1 on the regular branch")
    chk.true(len(R_regular) == 1, "exactly one Blue branch with R regular at 0")
    chk.zero_numeric(R_regular[0] - R_target,
                     [{kappa: sp.Rational(3, 2), w: sp.Rational(1, 3)},
                      {kappa: sp.Rational(1, 2), w: sp.Rational(-2, 3)},
                      {kappa: 5, w: sp.Rational(5, 2) - sp.Rational(1, 10)}],
                     "R(w) = (kappa - sqrt(kappa(kappa - 2w)))/w")
    chk.zero(sp.expand(imp_quad_target.subs({GY: w, z: R_target + 1 / w}) * w**2),
             "G(R(w) + 1/w) = w (quadratic identity)")
    R_series = series_coeffs(R_target, w, K_MAX)
    chk.zero(R_series[0] - 1, "kappa_1 = 1")
    chk.zero(R_series[1] - 1 / (2 * kappa), "kappa_2 = 1/(2 kappa)")
    chk.zero(R_series[2] - 1 / (2 * kappa**2), "kappa_3 = 1/(2 kappa^2)")
    # general term from sqrt(1 - 4y) = 1 - 2 sum_{n>=1} C_{n-1} y^n with y = w/(2 kappa)
    for n, coef in enumerate(R_series):
        target = sp.catalan(n) / (2 * kappa) ** n
        chk.zero(coef - target, f"kappa_{n + 1} = Catalan({n})/(2 kappa)^{n}")
    G_inf = sp.expand(sp.series(physical[0].subs(z, 1 / u), u, 0, K_MAX + 1).removeO())
    moments = tuple(sp.simplify(G_inf.coeff(u, k + 1)) for k in range(K_MAX))

    # step 5: branch point and the real part beyond it
    branch_point = sp.solve(kappa * (kappa - 2 * w), w)
    chk.true(branch_point == [kappa / 2], "branch point at w = kappa/2")
    wr = sp.Symbol("w_r", positive=True)  # real w > kappa/2 written as kappa/2 + wr
    R_upper = (kappa - sp.I * sp.sqrt(kappa * 2 * wr)) / (kappa / 2 + wr)
    R_lower = (kappa + sp.I * sp.sqrt(kappa * 2 * wr)) / (kappa / 2 + wr)
    chk.zero(sp.re(R_upper) - kappa / (kappa / 2 + wr), "Re R = kappa/w beyond the cut")
    chk.zero(R_upper + R_lower - 2 * kappa / (kappa / 2 + wr),
             "imaginary parts of the two lips cancel")
    # numeric: principal sqrt at w = kappa/2 + wr +- i 0
    for kv, wv in [(sp.Rational(3, 2), 2), (sp.Rational(1, 2), 5)]:
        for sgn in (1, -1):
            rv = sp.N(R_target.subs({kappa: kv, w: wv + sgn * sp.I / 10**40}), DPS)
            chk.true(abs(sp.re(rv) - sp.Rational(kv) / wv) < TOL,
                     f"Re R(w +- i0) = kappa/w at kappa={kv}, w={wv}, side {sgn:+d}")
    chk.zero(R_target.subs(w, kappa / 2) - 2, "R(kappa/2) = 2 (continuity of Re R)")

    # step 6: antiderivative via s = sqrt(kappa(kappa - 2z))
    s = sp.Symbol("s", positive=True)
    z_of_s = (kappa**2 - s**2) / (2 * kappa)
    # on 0 < z < kappa/2: R = (kappa - s)/z with z = z(s)
    integrand_s = sp.simplify(sp.factor(((kappa - s) / z_of_s) * sp.diff(z_of_s, s)))
    chk.zero(integrand_s + 2 * s / (kappa + s), "R dz = -2 s/(kappa + s) ds")
    F_s = sp.integrate(integrand_s, s)
    chk.zero(sp.diff(F_s - (2 * kappa * sp.log(kappa + s) - 2 * s), s),
             "int -2s/(kappa+s) ds = 2 kappa ln(kappa + s) - 2 s")
    s_z = sp.sqrt(kappa * (kappa - 2 * z))
    F = 2 * kappa * sp.log(kappa + s_z) - 2 * s_z
    chk.zero(sp.diff(F, z) - R_target.subs(w, z), "d/dz [2 kappa ln(kappa+s) - 2 s] = R(z)")
    F_spec = kappa * sp.log(z) - (2 * s_z + kappa * sp.log((kappa - s_z) / (kappa + s_z)))
    chk.zero(sp.diff(F_spec, z) - R_target.subs(w, z), "other closed-form antiderivative: d/dz = R")
    chk.zero_numeric(F_spec - F + kappa * sp.log(2 * kappa),
                     [{kappa: sp.Rational(3, 2), z: sp.Rational(1, 2)},
                      {kappa: 2, z: sp.Rational(9, 10)}],
                     "other antiderivative = ours - kappa ln(2 kappa) on (0, kappa/2)")
    R_int0 = 2 * kappa * sp.log((kappa + s_z) / (2 * kappa)) - 2 * s_z + 2 * kappa
    chk.zero(sp.expand_log(F - F.subs(z, 0) - R_int0, force=True), "int_0^z R = F(z) - F(0)")
    chk.zero(sp.series(R_int0, z, 0, 3).removeO() - (z + z**2 / (4 * kappa)),
             "int_0^z R = z + z^2/(4 kappa) + ...")
    A = imp_layer_antiderivative(z, kappa)
    zr = sp.Symbol("z_r", positive=True)
    beyond = kappa * sp.log(2 * kappa * zr)
    chk.zero(sp.diff(beyond, zr) - kappa / zr, "d/dz Re-antiderivative = kappa/z beyond cut")
    chk.zero(F.subs(z, kappa / 2) - beyond.subs(zr, kappa / 2),
             "antiderivative continuous at kappa/2")
    # Re of the analytic continuation of F onto the cut equals kappa ln(2 kappa z)
    for kv, zv in [(sp.Rational(3, 2), 4), (sp.Rational(1, 2), sp.Rational(7, 3))]:
        fv = sp.N(F.subs({kappa: kv, z: zv + sp.I / 10**40}), DPS)
        chk.true(abs(sp.re(fv) - sp.N(beyond.subs({kappa: kv, zr: zv}), DPS)) < TOL,
                 f"Re F(z + i0) = kappa ln(2 kappa z) at kappa={kv}, z={zv}")
    lam, lmin = sp.symbols("lambda lambda_min", positive=True)
    G_imp_paper = kappa * (sp.log(lam) - sp.log(lmin))
    chk.zero(sp.expand_log(beyond.subs(zr, lam) - beyond.subs(zr, lmin)) - G_imp_paper,
             "G_IMP = kappa (ln lambda - ln lambda_min) for lambda_min >= kappa/2")
    chk.zero(G_imp_paper.subs(lam, sp.exp(2) * lmin) - 2 * kappa, "G_IMP(e^2 lmin) = 2 kappa")

    # step 7: how far the physical real branch reaches
    sq = sp.sqrt(2 * kappa + 1)
    w_max = sp.simplify(G_closed.subs(z, x_p))
    w_max_closed = sq * (sq - 1) / (sq + 1)
    chk.zero(w_max - w_max_closed, "G(x_+) = s(s-1)/(s+1), s = sqrt(2 kappa + 1)")
    chk.zero(w_max_closed / (kappa / 2) - 4 * sq / (sq + 1) ** 2,
             "G(x_+)/(kappa/2) = 4 s/(s+1)^2 (< 1 by AM-GM)")
    chk.zero(w_max_closed.subs(kappa, sp.Rational(3, 2)) - sp.Rational(2, 3),
             "kappa = 3/2: G(x_+) = 2/3 < kappa/2 = 3/4")

    return Derivation(
        name="imp_r_transform",
        title="Inverse Marchenko-Pastur: G, R, branch point, integrated R",
        source=("arXiv:2507.17912 Sec. 5.4.5, Table 8, App. A.8 (IMP), Eq. (132); "
                "docs/spectral_models.md; docs/quality.md"),
        symbols={"z": z, "w": w, "q": q, "Q": Q, "kappa": kappa, "x": xr, "G": GY,
                 "lambda": lam, "lambda_min": lmin},
        results={
            "G_of_G_X": sp.Eq(GY, (1 - a_of_z * g) / z),
            "quadratic_q": sp.Eq(imp_quad_q, 0),
            "quadratic": sp.Eq(imp_quad_target, 0),
            "kappa_of_q": (1 - q) / (2 * q),
            "kappa_of_Q": (Q - 1) / 2,
            "G": G_closed,
            "x_plus": x_p,
            "x_minus": x_m,
            "density": rho,
            "R": R_target,
            "free_cumulants": tuple(R_series),
            "moments": moments,
            "branch_point": kappa / 2,
            "Re_R_beyond_cut": kappa / w,
            "antiderivative": F,
            "antiderivative_spec": F_spec,
            "R_integrated": R_int0,
            "layer_antiderivative": A,
            "G_IMP_paper": G_imp_paper,
            "w_max": w_max_closed,
        },
        checks=tuple(chk.passed),
    )


def main() -> None:
    print_derivation(derive())


if __name__ == "__main__":
    main()
