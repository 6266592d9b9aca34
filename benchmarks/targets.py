"""The converged protocol's targets, judged on its held-out split.

Written before the runs (docs/RESULTS.md, "Benchmark 'converged': protocol", step 8):

1. MKD and DFMSD each at least +1.0 AP over the plain student, as a mean over 3 seeds, with
   every seed-paired difference positive;
2. at least two classic baselines above the plain student;
3. every distilled headline row above the plain student given a distilled row's compute;
4. stretch: DFMSD closes at least 30% of the teacher-student gap.

How each is read here:

- a difference is the mean of the seed-paired differences (seed k against seed k); every
  verdict says whether it exceeds the plain student's seed std, the protocol's line under which
  a difference is called no result (step 7);
- "above" (targets 2 and 3) is a positive mean difference;
- target 2 judges the baselines that have the headline seeds (the two best on val at seed 0)
  once two have them; until then every baseline on the seeds it has. One-seed baselines are
  listed either way;
- target 3's headline rows are the MKD and DFMSD rows and the baselines with the headline seeds.

A target whose rows have not all run is judged on what has, and the detail says how many
seeds each row has.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .report import RowResult, _reference, gap_closed, method_of, paired_differences

__all__ = ["Verdict", "protocol_targets", "verdict_lines"]


@dataclass(frozen=True)
class Verdict:
    """One target: what it asks, whether it is met, and the figures that decide it."""

    target: str
    met: bool
    detail: str


@dataclass(frozen=True)
class _Difference:
    """A row against a reference, seed by seed: the differences and their mean (NaN if none)."""

    name: str
    per_seed: Tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.per_seed) / len(self.per_seed) if self.per_seed else math.nan

    def above(self) -> bool:
        return self.mean > 0  # False for NaN

    def text(self) -> str:
        if not self.per_seed:
            return f"{self.name}: no seed shared with its reference"
        seeds = "1 seed" if len(self.per_seed) == 1 else f"{len(self.per_seed)} seeds"
        return f"{self.name} {self.mean:+.2f} ({', '.join(f'{d:+.2f}' for d in self.per_seed)}; {seeds})"


def _name(result: RowResult) -> str:
    """A row's method by its short name (FGD, FitNet, MKD): its labels are too long for a list."""
    method = method_of(result.row)
    return {"fitnet": "FitNet", "dfmsd_onestage": "one-stage DFMSD"}.get(method, method.upper())


def _difference(result: RowResult, reference: RowResult) -> _Difference:
    return _Difference(_name(result), tuple(d for _, d in paired_differences(result, reference)))


def _row(results: Dict[str, RowResult], table: str, method: str) -> Optional[RowResult]:
    found = [r for r in results.values() if r.row.table == table and method_of(r.row) == method]
    return found[0] if found else None


def _noise_text(difference: _Difference, noise: float) -> str:
    if math.isnan(noise):
        return "no seed std of the plain student to compare with"
    side = "beyond" if abs(difference.mean) > noise else "within"
    return f"{side} the plain student's seed std ({noise:.3f})"


def protocol_targets(results: Dict[str, RowResult], table: str, seeds: int = 3, margin: float = 1.0,
                     stretch: float = 0.30) -> List[Verdict]:
    """The verdicts of the protocol's targets for the rows of ``table`` in ``results`` (the
    held-out split's results); ``seeds``: the profile's headline seed count. [] when the table
    has no plain student."""
    plain = _row(results, table, "plain")
    if plain is None:
        return []
    noise = plain.std() if len(plain.seeds) > 1 else math.nan
    in_table = [r for r in results.values() if r.row.table == table]
    verdicts = []
    for method in ("mkd", "dfmsd"):
        row = _row(results, table, method)
        if row is None:
            continue
        diff = _difference(row, plain)
        met = len(diff.per_seed) >= seeds and all(d > 0 for d in diff.per_seed) and round(diff.mean, 2) >= margin
        verdicts.append(Verdict(
            f"{_name(row)}: >= {margin:+.1f} AP over the plain student, {seeds} seeds, every seed better", met,
            f"{diff.text()}, {_noise_text(diff, noise)}"))
    baselines = [r for r in in_table if r.row.role == "baseline"]
    if baselines:
        judged = [r for r in baselines if len(r.seeds) >= seeds]
        rule = f"the {len(judged)} with {seeds} seeds"
        if len(judged) < 2:
            judged, rule = baselines, "every baseline on the seeds it has (fewer than two have all seeds)"
        diffs = {r.row.name: _difference(r, plain) for r in baselines}
        above = [r for r in judged if diffs[r.row.name].above()]
        beyond = [r for r in above if not math.isnan(noise) and diffs[r.row.name].mean > noise]
        best_first = sorted(diffs.values(), key=lambda d: math.inf if math.isnan(d.mean) else -d.mean)
        listing = "; ".join(d.text() for d in best_first)
        noise_line = f"seed std {noise:.3f}" if not math.isnan(noise) else "no seed std"
        verdicts.append(Verdict(
            "at least two classic baselines above the plain student", len(above) >= 2,
            f"judged on {rule}: {len(above)} above, {len(beyond)} of them beyond the plain student's "
            f"{noise_line}; every baseline: {listing}"))
    same = _row(results, table, "plain_same_compute")
    headline = [r for r in in_table if (r.row.role == "distill" and r.row.headline)
                or (r.row.role == "baseline" and len(r.seeds) >= seeds)]
    if same is not None and headline:
        diffs = [_difference(r, same) for r in headline]
        above = [d for d in diffs if d.above()]
        verdicts.append(Verdict(
            "every distilled headline row above the same-compute plain student", len(above) == len(diffs),
            f"{len(above)} of {len(diffs)} above: {'; '.join(d.text() for d in diffs)}"))
    dfmsd = _row(results, table, "dfmsd")
    teacher = _reference(results, table, "teacher")
    if dfmsd is not None and teacher is not None:
        share = gap_closed(dfmsd.mean(), plain.mean(), teacher.mean())
        closed = "n/a (the teacher leads by under 1 AP)" if share is None or math.isnan(share) else f"{share:.0%}"
        verdicts.append(Verdict(
            f"stretch: {_name(dfmsd)} closes >= {stretch:.0%} of the teacher-student gap",
            share is not None and share >= stretch,
            f"{closed} ({_name(dfmsd)} {dfmsd.mean():.2f} over {len(dfmsd.seeds)} seed(s), plain "
            f"{plain.mean():.2f}, teacher {teacher.mean():.2f})"))
    return verdicts


def verdict_lines(verdicts: List[Verdict], split: str) -> List[str]:
    """Markdown lines of a "Targets" subsection: ``verdicts``, judged on ``split``."""
    if not verdicts:
        return []
    lines = [f"### Targets (written before the runs), judged on {split}", "",
             "Each difference is the mean of the seed-paired differences, each seed's in brackets.", ""]
    lines += [f"- {v.target}: **{'met' if v.met else 'missed'}**; {v.detail}." for v in verdicts]
    return lines + [""]
