"""Turn finished benchmark tasks into the markdown tables of docs/RESULTS.md.

Tables follow the papers: AP, AP50, AP75, APs, APm, APl (COCO, in percent),
mean +- sample standard deviation over seeds where a row has several, the share
of the teacher-student gap a method closes, and the training cost per iteration.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from .plan import FIRST_ROLES, REFERENCE_ROLES, Row
from .runner import Task, gradient_balance, last_stage_dir

__all__ = ["RowResult", "mean_std", "collect", "main_table", "segm_table", "targets", "gap_closed",
           "paired_differences", "paired_table", "gradient_balance", "method_of", "results_document"]

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
TABLE_TITLES = {
    "main": "Distillation on the bundled shapes dataset (Faster R-CNN students; MKD table 1 / DFMSD table 6 analogue)",
    "mkd_ablation": "MKD ablation: one term dropped at a time (MKD table 4 analogue)",
    "dfmsd_ablation": "DFMSD ablation: SAL, ME and SFA alone and in pairs (DFMSD table 11 analogue; the full method is the DFMSD row above)",
    "mask_rcnn": "Instance segmentation: Mask R-CNN students (MKD table 2 analogue)",
    "sanity": "Sanity: does knowledge reach the student? (a) a same-lineage and (b) an independent teacher",
    "sanity_methods": "Sanity: the methods (MKD, DFMSD and the classic baselines from teacher (b), 0.1x at the start)",
    "sanity_ablations": "Sanity: which part of MKD and DFMSD costs (drop-one ablations, teacher (b), 0.1x at the start)",
    "quick": "The demo: the converged protocol in small (R18w16 student from scratch, N and 2N; one seed)",
    "converged": "Converged profile: MKD, DFMSD and the baselines against an edge-sized student (R18w16, from scratch) at a fixed budget of N iterations",
    "converged_mkd_ablation": "Converged: MKD with one term dropped (MKD table 4 analogue, seed 0; full MKD in the table above)",
    "converged_dfmsd_ablation": "Converged: DFMSD's SAL, ME and SFA alone and in pairs (DFMSD table 11 analogue, seed 0; both full DFMSD rows in the table above)",
    "converged_mask_rcnn": "Converged: instance segmentation, Mask R-CNN R18w16 students (MKD table 2 analogue)",
    "converged_probes": "Converged: the schedule and teacher probes (val, seed 0)",
}


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value); NaN (an AP that COCO
    could not compute) propagates instead of raising."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


class RowResult:
    """The finished seeds of one row, on the split their config evaluates (``split`` ""), or
    on a report split of their profile (a dataset name in their records' ``splits``)."""

    def __init__(self, row: Row, tasks: Sequence[Task], split: str = ""):
        self.row = row
        self.tasks = sorted(tasks, key=lambda t: t.seed)
        self.split = split

    def metrics(self, task: Task) -> Dict[str, float]:
        return task.result["splits"][self.split] if self.split else task.result["metrics"]

    @property
    def seeds(self) -> List[int]:
        return [t.seed for t in self.tasks]

    def values(self, metric: str, task: str = "bbox") -> List[float]:
        return [self.metrics(t)[f"{task}/{metric}"] for t in self.tasks]

    def mean(self, metric: str = "AP", task: str = "bbox") -> float:
        return mean_std(self.values(metric, task))[0]

    def std(self, metric: str = "AP", task: str = "bbox") -> float:
        return mean_std(self.values(metric, task))[1]

    def cell(self, metric: str, task: str = "bbox") -> str:
        values = self.values(metric, task)
        if len(values) == 1:
            return f"{values[0]:.2f}"
        mean, std = mean_std(values)
        return f"{mean:.2f} ± {std:.2f}"

    def s_per_iter(self) -> Optional[float]:
        times = [t.result.get("s_per_iter") for t in self.tasks if t.result.get("s_per_iter")]
        return mean_std(times)[0] if times else None


def collect(tasks: Sequence[Task], rows: Sequence[Row], split: str = "") -> Dict[str, RowResult]:
    """``{row name: RowResult}`` of the rows with at least one finished task (with ``split``:
    one whose record holds that report split)."""
    by_row: Dict[str, List[Task]] = {}
    for task in tasks:
        if task.row is not None and task.result is not None:
            if split and split not in (task.result.get("splits") or {}):
                continue
            by_row.setdefault(task.row.name, []).append(task)
    return {r.name: RowResult(r, by_row[r.name], split) for r in rows if r.name in by_row}


MIN_GAP = 1.0  # AP; below it the share of the gap is noise over a tiny denominator


def gap_closed(method: float, student: float, teacher: float) -> Optional[float]:
    """(AP_method - AP_student) / (AP_teacher - AP_student): the share of the gap closed;
    None when the teacher leads the student by less than ``MIN_GAP`` AP."""
    if not teacher - student >= MIN_GAP:
        return None
    return (method - student) / (teacher - student)


def _reference(results: Dict[str, RowResult], table: str, role: str) -> Optional[RowResult]:
    picks = [r for r in results.values() if r.row.table == table and r.row.role == role]
    if role == "teacher":  # the strongest teacher of the table
        picks.sort(key=lambda r: r.mean(), reverse=True)
    return picks[0] if picks else None


def main_table(results: Dict[str, RowResult], table: str) -> str:
    """Markdown table of one ``table`` (bbox metrics, gap closed, seeds, s/iter)."""
    rows = [r for r in results.values() if r.row.table == table]
    student = _reference(results, table, "student") or _reference(results, "main", "student")
    teacher = _reference(results, table, "teacher") or _reference(results, "main", "teacher")
    lines = [
        "| method | " + " | ".join(METRICS) + " | Δ AP | gap closed | seeds | s / iter |",
        "|---|" + "---|" * (len(METRICS) + 4),
    ]
    for r in rows:
        delta = gap = ""
        reference = results.get(r.row.versus) if r.row.versus else student
        if reference is not None and r.row.role not in REFERENCE_ROLES:
            delta = f"{r.mean() - reference.mean():+.2f}"
            if teacher is not None:
                share = gap_closed(r.mean(), reference.mean(), teacher.mean())
                gap = "n/a (gap < 1 AP)" if share is None else f"{100 * share:.0f}%"
        speed = r.s_per_iter()
        lines.append(
            f"| {r.row.label} | " + " | ".join(r.cell(m) for m in METRICS)
            + f" | {delta} | {gap} | {len(r.seeds)} | {'' if speed is None else f'{speed:.2f}'} |"
        )
    return "\n".join(lines)


def segm_table(results: Dict[str, RowResult], table: str = "mask_rcnn") -> str:
    """bbox and mask AP of the instance-segmentation rows."""
    rows = [r for r in results.values() if r.row.table == table]
    lines = ["| model | bbox AP | bbox AP50 | segm AP | segm AP50 | segm APs | segm APm | segm APl |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.cell("AP"), r.cell("AP50")] + [r.cell(m, "segm") for m in ("AP", "AP50", "APs", "APm", "APl")]
        lines.append(f"| {r.row.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results: Dict[str, RowResult], methods: Sequence[str] = ("mkd", "dfmsd"),
            margin: float = 1.0) -> List[Tuple[str, bool, str]]:
    """(label, met, explanation) for "beats the plain student by >= margin AP, every seed better".

    Seeds are paired by number (seed k of the method against seed k of the student).
    """
    student = results.get("student")
    verdicts = []
    for name in methods:
        method = results.get(name)
        if method is None or student is None:
            continue
        gain = method.mean() - student.mean()
        paired = paired_differences(method, student)
        every = all(d > 0 for _, d in paired)
        met = gain >= margin and every and len(paired) >= 3
        detail = ", ".join(f"seed {s}: {d:+.2f}" for s, d in paired)
        verdicts.append((
            method.row.label, met,
            f"mean gain {gain:+.2f} AP over {len(paired)} seed(s) ({detail}); target: >= {margin:+.1f}, "
            "every seed better, 3 seeds",
        ))
    return verdicts


def _versus(results: Dict[str, RowResult], result: RowResult) -> Optional[RowResult]:
    """The row ``result`` is measured against: its ``versus`` row, else its table's plain student."""
    if result.row.versus:
        return results.get(result.row.versus)
    return _reference(results, result.row.table, "student")


def paired_differences(method: RowResult, reference: RowResult) -> List[Tuple[int, float]]:
    """(seed, AP of ``method`` - AP of ``reference``) for every seed both rows have."""
    plain = dict(zip(reference.seeds, reference.values("AP")))
    return [(s, ap - plain[s]) for s, ap in zip(method.seeds, method.values("AP")) if s in plain]


def _run_balance(task: Task) -> Optional[Tuple[float, float]]:
    """A run's gradient balance: from its record, else from its folder's metrics.json."""
    if task.result is not None and "grad_balance" in task.result:
        found = task.result["grad_balance"]
        return None if found is None else (found[0], found[1])
    return gradient_balance(task.output_dir)


def _balance_cells(result: RowResult) -> Tuple[str, str]:
    found = [b for b in (_run_balance(t) for t in result.tasks) if b is not None]
    if not found:
        return "", ""
    ratio = sorted(b[0] for b in found)[len(found) // 2]
    cos = sorted(b[1] for b in found)[len(found) // 2]
    return f"{ratio:.2f}", f"{cos:+.2f}"


def paired_table(results: Dict[str, RowResult], table: str) -> str:
    """Markdown: each row's AP per seed, mean ± std, and its seed-paired differences from the
    row it is measured against (:func:`_versus`), with whether every seed is better; for
    rows with gradient diagnostics, the distillation gradient on the FPN (neck) over the
    detection gradient there and the cosine of the two (:func:`gradient_balance`, median
    over the run, then over seeds)."""
    rows = [r for r in results.values() if r.row.table == table]
    seeds = sorted({s for r in rows for s in r.seeds})
    lines = [
        "| row | " + " | ".join(f"AP seed {s}" for s in seeds) + " | AP mean ± std | against | "
        "Δ per seed | Δ mean | every seed better | FPN grad ratio | FPN grad cosine |",
        "|---|" + "---|" * (len(seeds) + 7),
    ]
    for r in rows:
        by_seed = dict(zip(r.seeds, r.values("AP")))
        cells = [f"{by_seed[s]:.2f}" if s in by_seed else "" for s in seeds]
        against = delta = mean_delta = every = ""
        # a reference row (plain student) is compared with nothing unless it names its reference
        measured = r.row.role not in REFERENCE_ROLES or bool(r.row.versus)
        reference = _versus(results, r) if measured else None
        if reference is not None and reference is not r:
            paired = paired_differences(r, reference)
            if paired:
                against = reference.row.name
                delta = ", ".join(f"{d:+.2f}" for _, d in paired)
                mean_delta = f"{sum(d for _, d in paired) / len(paired):+.2f}"
                every = "yes" if all(d > 0 for _, d in paired) else "no"
        ratio, cos = _balance_cells(r)
        lines.append(f"| {r.row.label} | " + " | ".join(cells) + f" | {r.cell('AP')} | {against} | {delta} | "
                     f"{mean_delta} | {every} | {ratio} | {cos} |")
    return "\n".join(lines)


def _json_number(value):
    """``value``, or None for a NaN or infinite one (COCO gives NaN for an empty size range;
    strict JSON has no NaN)."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def method_of(row: Row) -> str:
    """The row's method in lower case: ``plain`` for a plain student (``plain_same_compute`` for
    one trained longer and measured against it), ``teacher`` /
    ``init`` for those roles, else the first word of its config's file name (``fitnet``,
    ``pkd``, ``mkd``, ``dfmsd``, ...; ``dfmsd_onestage`` for the one-stage DFMSD)."""
    if row.role == "student":  # a longer plain student measured against the plain one: more compute
        return "plain_same_compute" if row.versus else "plain"
    if row.role in FIRST_ROLES:
        return row.role
    stem = row.config.rsplit("/", 1)[-1]
    return "dfmsd_onestage" if stem.startswith("dfmsd_onestage") else stem.split("_", 1)[0].lower()


def results_document(profile, results: Dict[str, RowResult], command: str, date: str, machine: str,
                     split: str = "val", chosen_on: Optional[Dict[str, RowResult]] = None) -> dict:
    """The machine-readable results of a profile (``docs/results/<profile>.json``): per row its
    method, role, iterations, bbox AP per seed (and mask AP, for Mask R-CNN rows), mean and
    std, and every COCO metric per seed; ``results`` on ``split``. With ``chosen_on`` (the same
    rows on val, when ``results`` are on a report split), each row's val AP per seed too
    (``val_seeds``)."""
    rows = []
    for r in results.values():
        entry = {
            "name": r.row.name, "label": r.row.label, "table": r.row.table, "method": method_of(r.row),
            "role": r.row.role, "iterations": profile.iterations(r.row) * r.row.stages,
            "overrides": list(r.row.overrides),
            "seeds": {str(s): _json_number(ap) for s, ap in zip(r.seeds, r.values("AP"))},
            "mean": _json_number(r.mean()), "std": _json_number(r.std()),
            "metrics": {str(t.seed): {k: _json_number(v) for k, v in r.metrics(t).items()}
                        for t in r.tasks},
        }
        if chosen_on is not None and r.row.name in chosen_on:
            val = chosen_on[r.row.name]
            entry["val_seeds"] = {str(s): _json_number(ap) for s, ap in zip(val.seeds, val.values("AP"))}
        if r.row.versus:
            entry["versus"] = r.row.versus
        if r.row.segm:
            entry["segm_seeds"] = {str(s): _json_number(ap) for s, ap in zip(r.seeds, r.values("AP", "segm"))}
        rows.append(entry)
    return {"profile": profile.name, "split": split, "command": command, "date": date, "machine": machine,
            "rows": rows}
