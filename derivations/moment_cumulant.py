r"""Moment <-> free-cumulant relations up to order 6.

Paper: arXiv:2507.17912 Sec. 5.5 (Computational Random Matrix Analysis), Eq. (162), lists
``kappa_1 .. kappa_5`` in terms of the moments; here with normalised moments, ``m_0 = 1``
(docs/quality.md, "Decisions and paper inconsistencies met here").

Derivation route (Nica & Speicher, *Lectures on the Combinatorics of Free Probability*, 2006,
Lect. 11 and 16; Potters & Bouchaud 2020, ch. 2):

1. Moment generating function ``M(z) = 1 + sum_k m_k z^k`` and ``G(z) = M(1/z)/z``. The
   definition ``G(R(w) + 1/w) = w`` is equivalent to the functional equation
   ``M(z) = 1 + z M(z) R(z M(z))`` (checked symbolically by the substitution ``w = z M(z)``,
   which turns it into ``R(w) + 1/w = 1/z``).
2. With ``R(w) = sum_s kappa_s w^{s-1}`` this is ``M = 1 + sum_s kappa_s (z M)^s``; matching the
   coefficient of ``z^n`` gives ``m_n = kappa_n + (terms in lower kappas and moments)``, solved
   order by order for ``kappa_n`` (and, in the other direction, for ``m_n``).
3. Independent route: ``m_n = sum_{pi in NC(n)} prod_{B in pi} kappa_{|B|}`` over the non-crossing
   partitions of ``{1..n}``, enumerated here by brute force (``|NC(n)| = Catalan(n)`` checked).
   Both routes agree through order 6, and orders 1-5 equal the paper's list.
4. Series check: with the derived cumulants, ``G(R(w) + 1/w) = w + O(w^7)`` for generic moments.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations

import sympy as sp

from derivations._base import Checker, Derivation, print_derivation

ORDER = 6


def set_partitions(n: int):
    """All set partitions of ``range(n)`` (blocks as sorted tuples)."""
    if n == 0:
        yield []
        return
    for part in set_partitions(n - 1):
        for i in range(len(part)):
            yield part[:i] + [part[i] + (n - 1,)] + part[i + 1:]
        yield part + [(n - 1,)]


def is_noncrossing(partition) -> bool:
    """No ``a < b < c < d`` with ``a, c`` in one block and ``b, d`` in another."""
    for b1, b2 in combinations(partition, 2):
        for a, c in combinations(b1, 2):
            for b, d in combinations(b2, 2):
                if a < b < c < d or b < a < d < c:
                    return False
    return True


def noncrossing_partitions(n: int) -> list:
    return [p for p in set_partitions(n) if is_noncrossing(p)]


def _trunc(p, n: int):
    """Drop the terms of the sparse polynomial ``p`` whose degree in the first variable is > n."""
    ring = p.ring
    return ring({mon: c for mon, c in p.terms() if mon[0] <= n})


def _trunc_powers(p, n: int, kmax: int) -> list:
    """``[p^1, ..., p^kmax]`` truncated at degree ``n`` in the first ring variable."""
    out = [_trunc(p, n)]
    for _ in range(kmax - 1):
        out.append(_trunc(out[-1] * p, n))
    return out


def _coeff(p, n: int) -> sp.Expr:
    """Coefficient of ``var0^n`` of the sparse polynomial ``p``, as a sympy expression."""
    ring = p.ring
    sub = ring({(0,) + mon[1:]: c for mon, c in p.terms() if mon[0] == n})
    return sub.as_expr()


def paper_cumulants(m: list[sp.Symbol]) -> list[sp.Expr]:
    """``kappa_1 .. kappa_5`` as printed in arXiv:2507.17912 Eq. (162); ``m[k-1] = m_k``."""
    m1, m2, m3, m4, m5 = m[:5]
    return [
        m1,
        m2 - m1**2,
        m3 - 3 * m1 * m2 + 2 * m1**3,
        m4 - 4 * m1 * m3 - 2 * m2**2 + 10 * m1**2 * m2 - 5 * m1**4,
        m5 - 5 * m1 * m4 - 5 * m2 * m3 + 15 * m1**2 * m3 + 15 * m1 * m2**2
        - 35 * m1**3 * m2 + 14 * m1**5,
    ]


@cache
def derive() -> Derivation:
    z, w = sp.symbols("z w")
    m = list(sp.symbols(f"m1:{ORDER + 1}"))
    k = list(sp.symbols(f"kappa1:{ORDER + 1}"))
    chk = Checker()

    # step 1: equivalence of the functional equation with B(G(z)) = z
    Mf, Rf = sp.Function("M"), sp.Function("R")
    ww = z * Mf(z)
    functional = sp.Eq(Mf(z), 1 + z * Mf(z) * Rf(z * Mf(z)))
    blue_form = sp.Eq(Rf(ww) + 1 / ww, 1 / z)
    chk.zero(sp.simplify((functional.lhs - functional.rhs) / (-z * Mf(z))
                         - (blue_form.lhs - blue_form.rhs)),
             "M = 1 + z M R(zM)  <=>  R(w) + 1/w = 1/z at w = z M(z)")

    # step 2: coefficient matching in M = 1 + sum kappa_s (z M)^s (sparse polynomials over QQ)
    ring, zr, *gens = sp.ring([z, *m, *k], sp.QQ)
    mr, kr = gens[:ORDER], gens[ORDER:]
    Mr = 1 + sum(mr[j] * zr ** (j + 1) for j in range(ORDER))
    zM_pows = _trunc_powers(zr * Mr, ORDER, ORDER)
    rhs = 1 + sum(kr[s] * zM_pows[s] for s in range(ORDER))
    eqs = [sp.expand(_coeff(rhs - Mr, n)) for n in range(1, ORDER + 1)]
    m_of_k: dict[sp.Symbol, sp.Expr] = {}
    k_of_m: dict[sp.Symbol, sp.Expr] = {}
    for n in range(ORDER):
        chk.true(sp.diff(eqs[n], k[n]) == 1 and sp.diff(eqs[n], m[n]) == -1,
                 f"order {n + 1}: m_{n + 1} = kappa_{n + 1} + lower-order terms")
        m_of_k[m[n]] = sp.expand(sp.solve(eqs[n].subs(m_of_k), m[n])[0])
        k_of_m[k[n]] = sp.expand(sp.solve(eqs[n].subs(k_of_m), k[n])[0])

    # step 3: non-crossing partitions
    for n in range(1, ORDER + 1):
        nc = noncrossing_partitions(n)
        chk.true(len(nc) == sp.catalan(n), f"|NC({n})| = Catalan({n})")
        m_nc = sp.expand(sum(sp.Mul(*[k[len(b) - 1] for b in p]) for p in nc))
        chk.zero(m_nc - m_of_k[m[n - 1]], f"m_{n}: functional equation = sum over NC({n})")

    # round trip and the paper's list
    for n in range(ORDER):
        chk.zero(sp.expand(k_of_m[k[n]].subs(m_of_k)) - k[n], f"round trip kappa_{n + 1}")
    for n, expr in enumerate(paper_cumulants(m), start=1):
        chk.zero(k_of_m[k[n - 1]] - expr, f"kappa_{n} equals the paper's (Eq. (162)) formula")
    kappa6 = (m[5] - 6 * m[0] * m[4] - 6 * m[1] * m[3] - 3 * m[2] ** 2 + 21 * m[0] ** 2 * m[3]
              + 42 * m[0] * m[1] * m[2] + 7 * m[1] ** 3 - 56 * m[0] ** 3 * m[2]
              - 84 * m[0] ** 2 * m[1] ** 2 + 126 * m[0] ** 4 * m[1] - 42 * m[0] ** 6)
    chk.zero(k_of_m[k[5]] - kappa6, "kappa_6 explicit form")

    # step 4: G(R(w) + 1/w) = w + O(w^{ORDER+1}) with generic moments
    wring, wr, *wgens = sp.ring([w, *m], sp.QQ)
    R_poly = sum(wring.from_expr(k_of_m[k[s]]) * wr**s for s in range(ORDER))
    n_tr = ORDER + 1
    x_pows = _trunc_powers(-wr * R_poly, n_tr, n_tr)
    inv_B = _trunc(wr * (1 + sum(x_pows)), n_tr)
    mm = [wring.one] + list(wgens)
    invB_pows = _trunc_powers(inv_B, n_tr, ORDER + 1)
    GB = sum(mm[j] * invB_pows[j] for j in range(ORDER + 1)).as_expr()
    chk.zero(GB - w, "G(R(w) + 1/w) = w + O(w^8)")

    # sanity values: Bernoulli{0,1}, p = 1/2: m_k = 1/2
    bern = {mi: sp.Rational(1, 2) for mi in m}
    bern_k = [k_of_m[k[n]].subs(bern) for n in range(ORDER)]
    chk.true(bern_k[:5] == [sp.Rational(1, 2), sp.Rational(1, 4), 0, sp.Rational(-1, 16), 0],
             "Bernoulli(1/2): kappa = 1/2, 1/4, 0, -1/16, 0")

    return Derivation(
        name="moment_cumulant",
        title="Moment - free cumulant relations to order 6",
        source=("arXiv:2507.17912 Sec. 5.5, Eq. (162) (orders 1-5); "
                "Nica & Speicher 2006 Lect. 11 [NS2006]"),
        symbols={"z": z, "w": w, "m": tuple(m), "kappa": tuple(k)},
        results={
            "functional_equation": functional,
            "kappa_of_m": tuple(k_of_m[k[n]] for n in range(ORDER)),
            "m_of_kappa": tuple(m_of_k[m[n]] for n in range(ORDER)),
            "bernoulli_half_cumulants": tuple(bern_k),
        },
        checks=tuple(chk.passed),
    )


def main() -> None:
    print_derivation(derive())


if __name__ == "__main__":
    main()
