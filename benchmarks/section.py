"""A profile's section of docs/RESULTS.md (:func:`benchmark_markdown`), written between its
markers (:func:`write_section`), and its results document beside it (:func:`write_results_json`)."""
import datetime
import json
import os

from d2kd.utils.io import atomic_write_text
from .costs import LATENCY_ROUNDS, LATENCY_SIZE
from .report import TABLE_TITLES, main_table, paired_table, segm_table, targets
from .runner import ROOT, finished_at, machine as this_machine
from .targets import protocol_targets, verdict_lines

RESULTS = os.path.join(ROOT, "docs", "RESULTS.md")


def write_section(path, key, markdown):
    """Replace (or append) the section between markers ``<!-- key -->`` in ``path``."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    text = open(path).read() if os.path.exists(path) else "# Results\n\nWritten by tools/benchmark.py.\n\n"
    block = f"{begin}\n{markdown}\n{end}"
    if text.count(begin) > 1 or text.count(end) > 1:
        raise ValueError(f"{path} has the markers of section {key!r} more than once; keep one pair "
                         "(the others would never be updated)")
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text)


def split_kind(dataset):
    """``test`` for ``d2kd_shapes_bench_test``: the last word of a dataset's name."""
    return dataset.rsplit("_", 1)[-1]


def _runs_machine_and_date(tasks):
    """The machines the finished runs' records name and the day the last of them finished
    (this machine and today for runs without a record): a section rebuilt from records on
    another machine says where its figures were measured."""
    done = [t.result for t in tasks if t.result is not None]
    machines = sorted({r["machine"] for r in done if r.get("machine")}) or [this_machine()]
    days = sorted(r["finished"][:10] for r in done if r.get("finished"))
    return "; ".join(machines), (days[-1] if days else str(datetime.date.today()))


def write_results_json(path, document):
    """Write ``document`` to ``path`` atomically (a temporary file, then a rename)."""
    atomic_write_text(path, json.dumps(document, indent=1))


def result_tables(results, reported=None, report_split=""):
    """The markdown lines of every table the rows of ``results`` fill (in the order of
    ``TABLE_TITLES``), each followed by the same rows on ``report_split`` (``reported``) where
    given, and by the seed-paired differences where a row has several seeds."""
    lines = []
    for table, title in TABLE_TITLES.items():
        if not any(r.row.table == table for r in results.values()):
            continue
        on_splits = [("", results)]
        if reported is not None and any(r.row.table == table for r in reported.values()):
            on_splits.append((report_split, reported))
        for split, rows_on_split in on_splits:
            where = f" on the held-out split {split} (reports only)" if split else (
                " on val (chooses)" if reported is not None else "")
            lines += [f"### {title}{where}", "", main_table(rows_on_split, table), ""]
            if any(r.row.segm for r in rows_on_split.values() if r.row.table == table):
                lines += [segm_table(rows_on_split, table), ""]
            if any(len(r.seeds) > 1 for r in rows_on_split.values() if r.row.table == table):
                lines += ["Seed-paired differences (seed k of a row against seed k of the row it is measured "
                          "against: same start, data order and iterations):", "",
                          paired_table(rows_on_split, table), ""]
    return lines


def benchmark_markdown(profile, tasks, results, model_costs, figures, command, results_path, left_out=(),
                       unfinished=(), reported=None, unreported=()):
    """The profile's RESULTS section. ``results``: on the split each config evaluates (val, which
    chooses); ``reported``: the same rows on the profile's first report split (held out), whose
    tables follow each val table; ``unreported``: finished runs with no evaluation on that split
    (named, as they are missing from its tables)."""
    machine, date = _runs_machine_and_date(tasks)
    lines = [
        f"## Benchmark '{profile.name}': {profile.description}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}; date: {date}.  ",
        f"Schedule: students {profile.student_iters} iterations (SAL: split evenly over the stages)"
        + (f" after a warm-up of {profile.init_iters}" if profile.student_init else "")
        + f", teachers {profile.teacher_iters}; headline seeds {list(profile.headline_seeds)}; "
        f"overrides of every row: `{' '.join(profile.overrides) or '(none)'}`"
        + (f"; of the distillation rows also: `{' '.join(profile.distill_overrides)}`"
           if profile.distill_overrides else "") + ".",
        "COCO bbox metrics in percent on the val split. That split also chose the benchmark's "
        "schedule, learning rate and detector family (docs/RESULTS.md, \"Scale and schedule\") "
        "and the settings of rows labelled \"set after the results\"; no other loss weight or "
        "method setting was tuned on it. "
        + (f"Each table is followed by the same rows on the held-out split {profile.report_splits[0]}, "
           "which chose nothing and only reports. " if reported is not None else "")
        + "Δ AP and gap closed: against the plain student, "
        "gap = strongest teacher AP - plain student AP (no share is given for a gap under 1 AP). "
        "s / iter: median logged training iteration time; with `--jobs` above 1, runs share the "
        "machine, so compare costs with the overhead section rather than across rows.",
        "",
    ]
    if profile.note:
        lines += [f"**Note.** {profile.note}", ""]
    if left_out:
        lines += [f"**Not run** (`--rows` chose a part of the profile): {', '.join(left_out)}.", ""]
    if unfinished:
        lines += [f"**Not finished yet** (the budget stopped the command first; the same command goes on): "
                  f"{', '.join(unfinished)}.", ""]
    if unreported:
        lines += [f"**Not in the {profile.report_splits[0]} tables** (finished before the profile evaluated "
                  f"that split; delete a run's record and folder to train it again): {', '.join(unreported)}.", ""]
    lines += result_tables(results, reported, profile.report_splits[0] if reported is not None else "")
    if reported is not None and profile.judge_targets:
        verdicts = protocol_targets(reported, profile.table, seeds=len(profile.headline_seeds))
        lines += verdict_lines(verdicts, profile.report_splits[0])
    verdicts = targets(results)
    if verdicts:
        lines += ["### Targets", ""]
        for label, met, detail in verdicts:
            lines.append(f"- {label} beats the plain student by >= 1.0 AP: **{'met' if met else 'missed'}**; {detail}.")
        lines.append("")
    if model_costs:
        lines += [
            f"### Deploy cost (params, fvcore GFLOPs at one {LATENCY_SIZE}x{LATENCY_SIZE} image, CPU latency, "
            "batch 1)",
            "",
            f"Latency: one val image resized to {LATENCY_SIZE}x{LATENCY_SIZE}, {os.cpu_count()} threads, "
            f"{LATENCY_ROUNDS} rounds in which every "
            "model runs once in turn (a drift of the machine's speed reaches all alike); median and "
            "25th-75th percentile.",
            "",
            "| model | params (M) | GFLOPs | latency (ms) | latency p25-p75 (ms) | note |",
            "|---|---|---|---|---|---|",
        ]
        for c in model_costs:
            lines.append(f"| {c['model']} | {c['params'] / 1e6:.2f} | {c['gflops']:.2f} | "
                         f"{c['latency_ms']:.1f} | {c['latency_q1']:.1f}-{c['latency_q3']:.1f} | {c['note']} |")
        lines.append("")
    if figures:
        base = os.path.dirname(os.path.abspath(results_path))
        lines += ["### Figures", ""] + [f"- [{name}]({os.path.relpath(p, base)})" for name, p in figures] + [""]
    finished = {t.name: finished_at(t) for t in tasks if t.result is not None}
    lines += ["### Runs", ""]
    if finished:
        lines += [f"Finished between {min(finished.values())} and {max(finished.values())}; a run found in "
                  "the cache is not run again, so one command may report runs of several invocations.", ""]
    lines += ["| run | finished | wall (s) | command |", "|---|---|---|---|"]
    for t in tasks:
        if t.name in finished:
            resumed = t.result.get("resumed_at") or []
            note = f" (resumed at {', '.join(resumed)})" if resumed else ""
            lines.append(f"| {t.name}{note} | {finished[t.name]} | {t.result['wall_s']:.0f} | `{t.result['command']}` |")
    lines.append("")
    return "\n".join(lines)
