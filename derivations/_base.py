"""Shared scaffolding for the sympy derivations (imports sympy only).

Every derivation module exposes ``derive() -> Derivation``. A :class:`Derivation` holds the
sympy symbols it was built on, the derived expressions (``results``), and the names of the
internal consistency checks that were asserted while deriving (``checks``). A failed check
raises :class:`DerivationError` inside ``derive()``, so a returned object is a proof that
every listed check held.

Checks are of two kinds:

* symbolic: ``simplify(a - b) == 0`` (:func:`assert_zero`);
* numeric at high precision, where ``simplify`` is unreliable (branch cuts, logs of
  products): the expression is evaluated by ``evalf`` with 30 significant digits at a few
  fixed rational points and must vanish to ``1e-25`` (:func:`assert_zero_numeric`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sympy as sp

#: digits used by the numeric checks, and the tolerance they must meet
DPS = 30
TOL = sp.Float("1e-25", DPS)


class DerivationError(AssertionError):
    """A step of a derivation did not produce what it was supposed to."""


@dataclass(frozen=True, eq=False)
class Derivation:
    """Result of one ``derive()``: symbols, derived sympy objects and the checks that passed."""

    name: str
    title: str
    source: str
    symbols: dict[str, sp.Basic]
    results: dict[str, sp.Basic]
    checks: tuple[str, ...] = field(default_factory=tuple)
    notes: str = ""

    def __getitem__(self, key: str) -> sp.Basic:
        return self.results[key]

    def keys(self):
        return self.results.keys()

    def latex(self) -> str:
        """LaTeX block: one ``name: expression`` line per result."""
        lines = [f"% {self.title}", f"% source: {self.source}"]
        for key, val in self.results.items():
            if isinstance(val, sp.Basic):
                body = sp.latex(val)
            elif isinstance(val, (list, tuple)):
                body = r",\; ".join(sp.latex(v) for v in val)
            elif isinstance(val, Mapping):
                body = r",\; ".join(f"{sp.latex(k)} = {sp.latex(v)}" for k, v in val.items())
            else:
                body = sp.latex(val)
            lines.append(f"\\text{{{key.replace('_', ' ')}}}:\\quad {body}")
        if self.checks:
            lines.append("% checks passed: " + ", ".join(self.checks))
        return "\n".join(lines)


class Checker:
    """Collects named checks; each method raises :class:`DerivationError` on failure."""

    def __init__(self) -> None:
        self.passed: list[str] = []

    def zero(self, expr: sp.Basic, name: str) -> None:
        """Symbolic check: ``simplify(expr) == 0``."""
        assert_zero(expr, name)
        self.passed.append(name)

    def zero_numeric(self, expr: sp.Basic, points: Iterable[Mapping], name: str) -> None:
        """High-precision numeric check at every substitution in ``points``."""
        assert_zero_numeric(expr, points, name)
        self.passed.append(name + " [numeric, 30 digits]")

    def true(self, cond: bool, name: str) -> None:
        if not bool(cond):
            raise DerivationError(f"check failed: {name}")
        self.passed.append(name)


def assert_zero(expr: sp.Basic, name: str = "") -> None:
    """Raise unless ``expr`` simplifies to zero."""
    e = sp.simplify(expr)
    if e != 0:
        e = sp.simplify(sp.expand(sp.together(e)))
    if e != 0:
        raise DerivationError(f"check failed: {name}: residual {e}")


def assert_zero_numeric(expr: sp.Basic, points: Iterable[Mapping], name: str = "") -> None:
    """Raise unless ``|expr| < 1e-25`` at each point, evaluated with 30 digits."""
    for pt in points:
        val = sp.N(expr.subs(pt), DPS)
        if not val.is_number or abs(val) > TOL:
            raise DerivationError(f"check failed: {name}: residual {val} at {pt}")


def stieltjes_quadrature(rho: sp.Basic, x: sp.Symbol, lo: sp.Basic, hi: sp.Basic,
                         z: sp.Basic) -> sp.Basic:
    """``int_lo^hi rho(x)/(z - x) dx`` by 30-digit (tanh-sinh) quadrature; ``z`` off [lo, hi]."""
    return sp.Integral(rho / (z - x), (x, lo, hi)).evalf(DPS)


def integrate_rational(expr: sp.Expr, var: sp.Symbol, lo: sp.Basic, hi: sp.Basic) -> sp.Expr:
    """``int_lo^hi expr d var`` for a rational ``expr`` whose poles are off the segment [lo, hi].

    Partial fractions; every simple-pole term ``c/(var - y0)`` is integrated to
    ``c Log((hi - y0)/(lo - y0))``. For real ``lo < hi`` this principal logarithm is the correct
    (continuous) value exactly when ``y0`` is not on the segment, because the ratio is a negative
    real number only for ``y0`` in ``[lo, hi]``. (sympy's own antiderivative ``log(var - y0)`` would
    put both endpoints on the cut when ``y0`` is real and larger than ``hi``.)
    """
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.apart(sp.together(expr), var)):
        num, den = term.as_numer_denom()
        pden = sp.Poly(den, var)
        if pden.degree() == 1 and not num.has(var):
            p1, p0 = pden.all_coeffs()
            y0 = -p0 / p1
            total += (num / p1) * sp.log((hi - y0) / (lo - y0))
        else:
            total += sp.integrate(term, (var, lo, hi))
    return total


def series_coeffs(expr: sp.Basic, var: sp.Symbol, n: int, x0: int = 0) -> list[sp.Basic]:
    """Taylor coefficients ``[c_0, ..., c_{n-1}]`` of ``expr`` in ``var`` about ``x0``."""
    ser = sp.series(expr, var, x0, n).removeO()
    poly = sp.expand(ser)
    return [sp.simplify(poly.coeff(var, k)) for k in range(n)]


def print_derivation(d: Derivation) -> None:
    """Print the LaTeX of one derivation (used by every module's ``main``)."""
    print(d.latex())
    if d.notes:
        print("% notes: " + " ".join(d.notes.split()))
    print()
