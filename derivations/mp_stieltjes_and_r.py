r"""Marchenko-Pastur law: Stieltjes transform, Blue function, R-transform, free cumulants.

Setting (Marchenko & Pastur 1967; arXiv:2507.17912 Sec. 2.1): ``W`` is ``N x M`` with i.i.d.
entries of mean 0 and variance ``sigma^2``, ``X = W^T W / N`` (``M x M``), ``c = M / N``.
Positive sign convention ``G(z) = \int rho(x) / (z - x) dx``, ``G ~ 1/z`` (docs/spectral_models.md;
arXiv:2507.17912 Sec. 5.4.1).

Derivation route (textbook: Potters & Bouchaud, *A First Course in Random Matrix Theory*,
2020, ch. 4; Bai & Silverstein 2010, ch. 3):

1. Cavity (Schur complement) step, the only physics input. Removing row/column 1 of ``X``,
   ``G = 1 / (z - X_11 - x_1^T (z - X^{(1)})^{-1} x_1)`` with ``X_11 -> sigma^2`` and the
   quadratic form self-averaging to ``(sigma^2/N) Tr[X^{(1)} (z - X^{(1)})^{-1}]
   = sigma^2 c (z G - 1)`` (because ``x (z - x)^{-1} = z (z - x)^{-1} - 1``). So
   ``G = 1 / (z - sigma^2 - c sigma^2 (z G - 1))``. The trace identity is checked below.
2. Clearing denominators gives the quadratic ``c sigma^2 z G^2 - (z - sigma^2(1-c)) G + 1 = 0``;
   both roots are computed and the one with ``z G -> 1`` as ``z -> oo`` is kept.
3. The quadratic is *linear* in ``z``: solving it for ``z`` at ``G = w`` gives the Blue function
   ``B(w)`` without any branch choice; ``R(w) = B(w) - 1/w``.
4. Free cumulants are the Taylor coefficients of ``R``; the integrated R-transform is
   ``int_0^t R``. Moments come from the expansion of ``G`` at infinity.
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


@cache
def derive() -> Derivation:
    z, w, t, x = sp.symbols("z w t x")
    c, sigma = sp.symbols("c sigma", positive=True)
    s2 = sigma**2
    G = sp.Symbol("G")
    u = sp.Symbol("u", positive=True)  # u = 1/z at infinity
    chk = Checker()

    # step 1: cavity equation; check the resolvent identity used for the quadratic form
    chk.zero(x / (z - x) - (z / (z - x) - 1), "x/(z-x) = z/(z-x) - 1 (trace identity)")
    cavity = sp.Eq(G, 1 / (z - s2 - c * s2 * (z * G - 1)))

    # step 2: quadratic self-consistency equation
    quad = sp.expand(-(G * (z - s2 - c * s2 * (z * G - 1)) - 1))
    quad_expected = c * s2 * z * G**2 - (z - s2 * (1 - c)) * G + 1
    chk.zero(quad - quad_expected, "cavity equation <=> quadratic")

    roots = sp.solve(quad, G)
    physical = [r for r in roots if sp.limit(r.subs(z, 1 / u) / u, u, 0, "+") == 1]
    chk.true(len(physical) == 1, "exactly one root with G ~ 1/z")
    G_root = physical[0]

    # edges: zeros of the discriminant; closed form with the product of principal roots
    disc = sp.discriminant(quad, G)
    lam_m = s2 * (1 - sp.sqrt(c)) ** 2
    lam_p = s2 * (1 + sp.sqrt(c)) ** 2
    chk.zero(disc - (z - lam_p) * (z - lam_m), "discriminant = (z-lambda_+)(z-lambda_-)")
    G_closed = (z - s2 * (1 - c) - sp.sqrt(z - lam_p) * sp.sqrt(z - lam_m)) / (2 * c * s2 * z)
    # the product form equals the root picked in step 2 where both are on the principal sheet
    # (z > lambda_+); it is the continuation that keeps G ~ 1/z everywhere off the cut
    pts = [{c: sp.Rational(1, 3), sigma: sp.Rational(3, 2), z: 7},
           {c: sp.Rational(1, 2), sigma: 1, z: 5},
           {c: sp.Rational(9, 10), sigma: sp.Rational(1, 2), z: sp.Rational(21, 10)}]
    chk.zero_numeric(G_root - G_closed, pts, "picked root = product-of-roots closed form")
    chk.zero(sp.expand(quad.subs(G, G_closed)), "closed form solves the quadratic")

    # density from the jump across the cut: rho = -(1/pi) Im G(x + i0), checked at bulk points
    # with x + i 10^-40 evaluated to 30 digits (the O(10^-40) offset is below the tolerance)
    xr = sp.Symbol("x", positive=True)
    rho = sp.sqrt((lam_p - xr) * (xr - lam_m)) / (2 * sp.pi * c * s2 * xr)
    for cv, sv, xv in [(sp.Rational(1, 3), sp.Rational(3, 2), 1), (sp.Rational(1, 2), 1, 2),
                       (sp.Rational(9, 10), sp.Rational(1, 4), sp.Rational(1, 5))]:
        gval = sp.N(G_closed.subs({c: cv, sigma: sv, z: xv + sp.I * sp.Rational(1, 10**40)}), DPS)
        rval = sp.N(rho.subs({c: cv, sigma: sv, xr: xv}), DPS)
        chk.true(abs(-sp.im(gval) / sp.pi - rval) < TOL and rval > 0,
                 f"rho = -(1/pi) Im G(x+i0) at c={cv}, sigma={sv}, x={xv}")

    # independent check off the support (z < lambda_-, complex z): quadrature of the density
    for cv, sv, zv in [(sp.Rational(1, 2), 1, -1), (sp.Rational(1, 4), 2, 1 + sp.I / 3)]:
        sub = {c: cv, sigma: sv}
        quad_val = stieltjes_quadrature(rho.subs(sub), xr, lam_m.subs(sub), lam_p.subs(sub), zv)
        chk.true(abs(quad_val - sp.N(G_closed.subs(sub).subs(z, zv), DPS)) < TOL,
                 f"G(z) = int rho/(z-x) by quadrature at c={cv}, sigma={sv}, z={zv}")

    # step 3: Blue function (the quadratic is linear in z)
    B_sol = sp.solve(quad.subs(G, w), z)
    chk.true(len(B_sol) == 1, "Blue function is unique (quadratic linear in z)")
    B = sp.simplify(B_sol[0])
    R = sp.simplify(B - 1 / w)
    R_closed = s2 / (1 - c * s2 * w)
    chk.zero(R - R_closed, "R(w) = sigma^2/(1 - c sigma^2 w)")
    chk.zero(sp.simplify(quad.subs({G: w, z: R_closed + 1 / w})), "G(R(w) + 1/w) = w")

    # step 4: cumulants, moments, integrated R
    kappas = series_coeffs(R_closed, w, K_MAX)
    for k, kap in enumerate(kappas, start=1):
        chk.zero(kap - c ** (k - 1) * s2**k, f"kappa_{k} = c^{k - 1} sigma^{2 * k}")
    G_inf = sp.series(G_root.subs(z, 1 / u), u, 0, K_MAX + 2).removeO()
    moments = [sp.factor(sp.expand(G_inf).coeff(u, k + 1)) for k in range(K_MAX + 1)]
    chk.zero(moments[0] - 1, "m_0 = 1")
    for k in range(1, K_MAX + 1):
        narayana = sum(sp.binomial(k, r) * sp.binomial(k, r + 1) / k * c**r for r in range(k))
        chk.zero(moments[k] - s2**k * narayana, f"m_{k} = Narayana polynomial")
    R_int = sp.integrate(R_closed, (w, 0, t))
    R_int = sp.simplify(sp.piecewise_fold(R_int))
    if isinstance(R_int, sp.Piecewise):
        R_int = R_int.args[0][0]
    R_int_closed = -sp.log(1 - c * s2 * t) / c
    chk.zero(sp.diff(R_int_closed, t) - R_closed.subs(w, t), "d/dt int_0^t R = R(t)")
    chk.zero(R_int_closed.subs(t, 0), "int_0^0 R = 0")
    chk.zero_numeric(R_int - R_int_closed,
                     [{c: sp.Rational(1, 2), sigma: 1, t: sp.Rational(1, 3)},
                      {c: sp.Rational(1, 4), sigma: 2, t: sp.Rational(-3, 2)}],
                     "sympy integral = -(1/c) ln(1 - c sigma^2 t)")

    # largest w reached by the real branch: G(lambda_+) = 1 / (sigma^2 sqrt(c) (1 + sqrt c))
    g_edge = sp.simplify(G_closed.subs(z, lam_p))
    g_edge_closed = 1 / (s2 * sp.sqrt(c) * (1 + sp.sqrt(c)))
    chk.zero(g_edge - g_edge_closed, "G(lambda_+) = 1/(sigma^2 sqrt c (1 + sqrt c))")
    chk.zero(sp.diff(B, w).subs(w, g_edge_closed), "B'(G(lambda_+)) = 0 (edge)")
    pole = 1 / (c * s2)
    chk.zero(pole / g_edge_closed - (1 + 1 / sp.sqrt(c)),
             "pole of R = (1 + 1/sqrt c) G(lambda_+) lies beyond the real branch")

    return Derivation(
        name="mp_stieltjes_and_r",
        title="Marchenko-Pastur: G, Blue function, R-transform, free cumulants",
        source=("Marchenko & Pastur 1967; Potters & Bouchaud 2020 ch. 4; "
                "Bai & Silverstein 2010 ch. 3; docs/spectral_models.md"),
        symbols={"z": z, "w": w, "t": t, "c": c, "sigma": sigma, "x": xr, "G": G},
        results={
            "cavity": cavity,
            "quadratic": sp.Eq(quad_expected, 0),
            "G": G_closed,
            "lambda_minus": lam_m,
            "lambda_plus": lam_p,
            "density": rho,
            "B": B,
            "R": R_closed,
            "free_cumulants": tuple(kappas),
            "moments": tuple(moments),
            "R_integrated": R_int_closed,
            "G_at_lambda_plus": g_edge_closed,
            "R_pole": pole,
        },
        checks=tuple(chk.passed),
    )


def main() -> None:
    print_derivation(derive())


if __name__ == "__main__":
    main()
