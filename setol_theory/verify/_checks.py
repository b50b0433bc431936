"""The result records of ``setol verify``: one :class:`Check` per comparison and the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One row of the verification table."""

    model: str
    check: str
    error: float
    tol: float
    passed: bool
    note: str = ""


@dataclass
class VerifyReport:
    """All checks of a run, plus the Monte Carlo convergence data."""

    checks: list[Check] = field(default_factory=list)
    convergence: dict[str, dict[str, Any]] = field(default_factory=dict)
    hciz: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def table(self) -> str:
        """Fixed-width text table."""
        head = f"{'model':<12} {'check':<44} {'max error':>10} {'tolerance':>10}  result  note"
        lines = [head, "-" * len(head)]
        for c in self.checks:
            lines.append(
                f"{c.model:<12} {c.check:<44} {c.error:>10.2e} {c.tol:>10.2e}  "
                f"{'pass' if c.passed else 'FAIL':<6}  {c.note}"
            )
        n_fail = sum(not c.passed for c in self.checks)
        lines.append(f"\n{len(self.checks) - n_fail} passed, {n_fail} failed")
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.checks]

