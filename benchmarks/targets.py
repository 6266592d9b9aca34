"""The converged protocol's targets, judged on its held-out split.

Written before the runs (docs/RESULTS.md, "Benchmark 'converged': protocol", step 8):

1. MKD and DFMSD each at least +1.0 AP over the plain student, as a mean over 3 seeds, with
   every seed-paired difference positive;
2. at least two classic baselines above the plain student;
3. every distilled headline row (the rows with 3 seeds) above the plain student given a
   distilled row's compute;
4. stretch: DFMSD closes at least 30% of the teacher-student gap.

"Above" is the mean of the seed-paired differences (seed k against seed k) being positive;
each verdict also says whether that mean exceeds the plain student's seed std, the protocol's
line under which a difference is called no result (step 7).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

from .report import RowResult, _reference, gap_closed, method_of, paired_differences

__all__ = ["Verdict", "protocol_targets", "verdict_lines"]

HEADLINE_SEEDS = 3


@dataclass(frozen=True)
class Verdict:
    """One target: what it asks, whether it is met, and the figures that decide it."""

    target: str
    met: bool
    detail: str


def _row(results: Dict[str, RowResult], table: str, method: str) -> Optional[RowResult]:
    found = [r for r in results.values() if r.row.table == table and method_of(r.row) == method]
    return found[0] if found else None


def _name(result: RowResult) -> str:
    """A row's method by its short name (FGD, FitNet, MKD): its labels are too long for a list."""
    method = method_of(result.row)
    return {"fitnet": "FitNet", "dfmsd_onestage": "one-stage DFMSD"}.get(method, method.upper())


def _paired_text(method: RowResult, reference: RowResult) -> str:
    paired = paired_differences(method, reference)
    mean = sum(d for _, d in paired) / len(paired)
    return f"{mean:+.2f} ({', '.join(f'{d:+.2f}' for _, d in paired)}; {len(paired)} seed{'s' * (len(paired) > 1)})"


def _paired_mean(method: RowResult, reference: RowResult) -> Optional[float]:
    paired = paired_differences(method, reference)
    return sum(d for _, d in paired) / len(paired) if paired else None


def protocol_targets(results: Dict[str, RowResult], table: str, margin: float = 1.0,
                     stretch: float = 0.30) -> List[Verdict]:
    """The verdicts of the protocol's targets for the rows of ``table`` in ``results`` (the
    held-out split's results), or [] when the table has no plain student. A target whose rows
    have not all run is judged on what has, and says so."""
    plain = _row(results, table, "plain")
    if plain is None:
        return []
    noise = plain.std() if len(plain.seeds) > 1 else float("nan")
    noise_text = f"the plain student's seed std is {noise:.2f}" if noise == noise else "one plain seed: no std"
    verdicts = []
    for method in ("mkd", "dfmsd"):
        row = _row(results, table, method)
        if row is None:
            continue
        paired = paired_differences(row, plain)
        mean = _paired_mean(row, plain)
        met = len(paired) >= HEADLINE_SEEDS and all(d > 0 for _, d in paired) and mean >= margin
        verdicts.append(Verdict(
            f"{_name(row)}: >= {margin:+.1f} AP over the plain student, {HEADLINE_SEEDS} seeds, every seed better",
            met, f"{_paired_text(row, plain)}"))
    baselines = [r for r in results.values() if r.row.table == table and r.row.role == "baseline"]
    if baselines:
        above = [r for r in baselines if _paired_mean(r, plain) > 0]
        beyond = [r for r in above if noise == noise and _paired_mean(r, plain) > noise]
        listing = "; ".join(f"{_name(r)} {_paired_text(r, plain)}"
                            for r in sorted(baselines, key=lambda r: -_paired_mean(r, plain)))
        verdicts.append(Verdict(
            "at least two classic baselines above the plain student", len(above) >= 2,
            f"{len(above)} of {len(baselines)} above ({len(beyond)} by more than the seed noise; "
            f"{noise_text}): {listing}"))
    same = _row(results, table, "plain_same_compute")
    headline = [r for r in results.values() if r.row.table == table and r.row.role in ("distill", "baseline")
                and len(r.seeds) >= HEADLINE_SEEDS]
    if same is not None and headline:
        below = [r for r in headline if _paired_mean(r, same) <= 0]
        listing = "; ".join(f"{_name(r)} {_paired_text(r, same)}" for r in headline)
        verdicts.append(Verdict(
            "every distilled headline row above the same-compute plain student",
            not below, f"{len(headline) - len(below)} of {len(headline)} above: {listing}"))
    dfmsd = _row(results, table, "dfmsd")
    teacher = _reference(results, table, "teacher")
    if dfmsd is not None and teacher is not None:
        share = gap_closed(dfmsd.mean(), plain.mean(), teacher.mean())
        closed = "n/a (gap under 1 AP)" if share is None else f"{share:.0%}"
        verdicts.append(Verdict(
            f"stretch: {_name(dfmsd)} closes >= {stretch:.0%} of the teacher-student gap",
            share is not None and share >= stretch,
            f"{closed} (DFMSD {dfmsd.mean():.2f}, plain {plain.mean():.2f}, teacher {teacher.mean():.2f})"))
    return verdicts


def verdict_lines(verdicts: List[Verdict], split: str) -> List[str]:
    """Markdown lines of a "Targets" subsection for ``verdicts`` judged on ``split``."""
    if not verdicts:
        return []
    lines = [f"### Targets, judged on {split} (written before the runs; mean of the seed-paired "
             "differences, each seed's in brackets)", ""]
    lines += [f"- {v.target}: **{'met' if v.met else 'missed'}**; {v.detail}." for v in verdicts]
    return lines + [""]
