r"""Wigner semicircle: Stieltjes transform, Blue function and R-transform.

Setting *(standard)*: ``H`` symmetric ``N x N``, off-diagonal entries i.i.d. with variance
``sigma^2 / N``. Positive sign convention ``G(z) = \int rho(x)/(z - x) dx``
(docs/spectral_models.md).

Derivation route (Potters & Bouchaud 2020, ch. 2-3): the cavity step gives
``G = 1 / (z - H_11 - sum_{jk} H_1j H_1k G^{(1)}_{jk}) -> 1 / (z - sigma^2 G)``; clearing
denominators gives the quadratic ``sigma^2 G^2 - z G + 1 = 0``; the root with ``G ~ 1/z`` is
kept; the quadratic is linear in ``z``, so the Blue function ``B(w) = sigma^2 w + 1/w`` follows
without a branch choice and ``R(w) = sigma^2 w``. Moments from ``G`` at infinity are
``sigma^{2k}`` times the Catalan numbers (even orders).
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
    z, w, t = sp.symbols("z w t")
    sigma = sp.Symbol("sigma", positive=True)
    s2 = sigma**2
    G = sp.Symbol("G")
    u = sp.Symbol("u", positive=True)
    chk = Checker()

    cavity = sp.Eq(G, 1 / (z - s2 * G))
    quad = sp.expand(-(G * (z - s2 * G) - 1))
    chk.zero(quad - (s2 * G**2 - z * G + 1), "cavity equation <=> quadratic")
    roots = sp.solve(quad, G)
    physical = [r for r in roots if sp.limit(r.subs(z, 1 / u) / u, u, 0, "+") == 1]
    chk.true(len(physical) == 1, "exactly one root with G ~ 1/z")
    G_root = physical[0]
    # product of principal roots: analytic off [-2 sigma, 2 sigma] and ~ 1/z in every direction
    G_closed = (z - sp.sqrt(z - 2 * sigma) * sp.sqrt(z + 2 * sigma)) / (2 * s2)
    chk.zero_numeric(G_root - G_closed, [{sigma: 1, z: 3}, {sigma: sp.Rational(1, 3), z: 5}],
                     "picked root = product-of-roots closed form (z > 2 sigma)")
    chk.zero(sp.expand(quad.subs(G, G_closed)), "closed form solves the quadratic")

    xr = sp.Symbol("x", real=True)
    rho = sp.sqrt(4 * s2 - xr**2) / (2 * sp.pi * s2)
    for sv, xv in [(1, sp.Rational(1, 2)), (sp.Rational(3, 2), -2)]:
        gval = sp.N(G_closed.subs({sigma: sv, z: xv + sp.I * sp.Rational(1, 10**40)}), DPS)
        rval = sp.N(rho.subs({sigma: sv, xr: xv}), DPS)
        chk.true(abs(-sp.im(gval) / sp.pi - rval) < TOL,
                 f"rho = -(1/pi) Im G(x+i0) at sigma={sv}, x={xv}")
    chk.zero(sp.integrate(rho.subs(sigma, 1), (xr, -2, 2)) - 1, "density integrates to 1")
    for sv, zv in [(1, -3), (sp.Rational(1, 2), sp.Rational(1, 2) + sp.I / 2)]:
        quad_val = stieltjes_quadrature(rho.subs(sigma, sv), xr, -2 * sv, 2 * sv, zv)
        chk.true(abs(quad_val - sp.N(G_closed.subs({sigma: sv, z: zv}), DPS)) < TOL,
                 f"G(z) = int rho/(z-x) by quadrature at sigma={sv}, z={zv}")

    B_sol = sp.solve(quad.subs(G, w), z)
    chk.true(len(B_sol) == 1, "Blue function is unique (quadratic linear in z)")
    B = sp.expand(B_sol[0])
    R = sp.simplify(B - 1 / w)
    chk.zero(R - s2 * w, "R(w) = sigma^2 w")
    kappas = series_coeffs(R, w, K_MAX)
    chk.true(kappas == [0, s2] + [0] * (K_MAX - 2), "only kappa_2 = sigma^2 is nonzero")
    G_inf = sp.expand(sp.series(G_root.subs(z, 1 / u), u, 0, K_MAX + 2).removeO())
    moments = [sp.simplify(G_inf.coeff(u, k + 1)) for k in range(K_MAX + 1)]
    for k in range(K_MAX + 1):
        target = sp.catalan(k // 2) * s2 ** (k // 2) if k % 2 == 0 else 0
        chk.zero(moments[k] - target, f"m_{k} = Catalan")
    R_int = sp.integrate(R.subs(w, t), (t, 0, t))
    chk.zero(R_int - s2 * t**2 / 2, "int_0^t R = sigma^2 t^2 / 2")

    return Derivation(
        name="semicircle_r",
        title="Wigner semicircle: G, Blue function, R-transform",
        source="standard; Potters & Bouchaud 2020 ch. 2-3; docs/spectral_models.md",
        symbols={"z": z, "w": w, "t": t, "sigma": sigma, "x": xr, "G": G},
        results={
            "cavity": cavity,
            "quadratic": sp.Eq(s2 * G**2 - z * G + 1, 0),
            "G": G_closed,
            "density": rho,
            "B": B,
            "R": R,
            "free_cumulants": tuple(kappas),
            "moments": tuple(moments),
            "R_integrated": R_int,
        },
        checks=tuple(chk.passed),
    )


def main() -> None:
    print_derivation(derive())


if __name__ == "__main__":
    main()
