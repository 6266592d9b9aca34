"""One invocation of the results benchmark: train what a profile's rows lack
(:func:`run_benchmark`), the strongest baselines again with every headline seed, then write
the profile's section and results document; or only say where it stands (:func:`status_lines`)."""
import os

from .costs import _model_costs
from .figures import _draw_figures
from .plan import FIRST_ROLES
from .records import RecordStore, inconsistent_inputs
from .report import collect, results_document
from .runner import estimate_seconds, folder_result, plan_tasks, run_tasks, task_states
from .section import _runs_machine_and_date, benchmark_markdown, split_kind, write_results_json, write_section

MAX_RUN_MINUTES = 45  # one run longer than this goes in pieces (budget stop, then --resume)


def records_folder(results_path, profile):
    """Where the records of ``profile``'s runs live: ``<results dir>/results/runs/<profile>``."""
    return os.path.join(os.path.dirname(os.path.abspath(results_path)), "results", "runs", profile.name)


def _strongest_baselines(results, count=1):
    """The ``count`` baselines with the best AP (on the split that chooses) at their first seed
    (the seed every row has), best first, so that extra seeds of one baseline (``all_seeds``) do
    not change the choice."""
    baselines = [r for r in results.values() if r.row.role == "baseline"]
    return sorted(baselines, key=lambda r: r.values("AP")[0], reverse=True)[:count]


def unreported_runs(tasks, profile):
    """Finished runs whose result holds no evaluation on the profile's first report split
    (made before the profile evaluated it): they are missing from that split's tables."""
    if not profile.report_splits:
        return []
    split = profile.report_splits[0]
    return [t.name for t in tasks if t.row is not None and t.result is not None
            and split not in (t.result.get("splits") or {})]


def reported_results(tasks, rows, profile):
    """The rows' results on the profile's first report split (the held-out split, which only
    reports), or None for a profile without one."""
    return collect(tasks, rows, split=profile.report_splits[0]) if profile.report_splits else None


def run_benchmark(profile, rows, work_dir, results_path, jobs=1, costs=True, plots=True,
                  command="", log=print, deadline=None, commit=False):
    """Train ``rows`` of ``profile`` (what their records and run folders do not hold yet), then
    write the profile's section of ``results_path`` from the records
    (:func:`records_folder`; each finished run writes its record, and commits it with
    ``commit``). With ``deadline`` (seconds since the epoch) only the runs that fit start, and
    the section shows what is finished.

    Rows of the profile that ``rows`` leaves out are named in that section.

    Returns ``(tasks, results)``; ``results`` maps row names to ``RowResult``.
    """
    store = RecordStore.beside_others(records_folder(results_path, profile))
    options = dict(jobs=jobs, threads=profile.threads, log=log, store=store, profile=profile.name,
                   deadline=deadline, commit=commit)
    tasks = plan_tasks(profile, rows, work_dir)
    summary = run_tasks(tasks, **options)
    results = collect(tasks, rows)
    best = _strongest_baselines(results, profile.strongest_baselines)
    if best and len(profile.headline_seeds) > 1 and summary.complete:
        log(f"[benchmark] strongest baseline{'s' if len(best) > 1 else ''}: "
            f"{', '.join(b.row.label for b in best)}; running {'them' if len(best) > 1 else 'it'} with "
            f"{len(profile.headline_seeds)} seeds")
        needed = [r for r in rows if r.role in FIRST_ROLES] + [b.row for b in best]
        extra = plan_tasks(profile, needed, work_dir, seeds_for=lambda r: profile.headline_seeds)
        run_tasks(extra, **options)
        known = {t.name for t in tasks}
        tasks += [t for t in extra if t.name not in known]
        results = collect(tasks, rows)
    figures_dir = os.path.join(os.path.dirname(os.path.abspath(results_path)), "results")
    figures = _draw_figures(profile, tasks, results, figures_dir) if plots else []
    model_costs = _model_costs(results, work_dir, profile) if costs else []
    left_out = [n for n in profile.rows if n not in {r.name for r in rows}]
    unfinished = [t.name for t in tasks if t.result is None]
    reported = reported_results(tasks, rows, profile)
    unreported = unreported_runs(tasks, profile)
    if unreported:
        log(f"[benchmark] {', '.join(unreported)}: no evaluation on {profile.report_splits[0]} in their "
            "records (finished before the profile evaluated it): left out of its tables; delete a run's "
            "record and folder to train it again")
    section = benchmark_markdown(profile, tasks, results, model_costs, figures, command, results_path,
                                 left_out=left_out, unfinished=unfinished, reported=reported,
                                 unreported=unreported)
    write_section(results_path, f"benchmark-{profile.name}", section)
    machine, date = _runs_machine_and_date(tasks)
    document = (results_document(profile, reported, command, date, machine,
                                 split=split_kind(profile.report_splits[0]), chosen_on=results)
                if reported is not None else results_document(profile, results, command, date, machine))
    write_results_json(os.path.join(figures_dir, f"{profile.name}.json"), document)
    return tasks, results


PLAN_STATES = {"record": "cached (record)", "folder": "cached (folder)", "retrain": "retrain",
               "to run": "to run"}


def plan_lines(profile, rows, work_dir, results_path):
    """What ``--plan`` prints: one line a run, its state as the runner sees it (a record of the
    same key or a finished folder: cached; ``retrain``: done by record, trained again for its
    checkpoint) and its folder."""
    store = RecordStore.beside_others(records_folder(results_path, profile))
    tasks = plan_tasks(profile, rows, work_dir)
    states = task_states(tasks, store)
    return [f"{PLAN_STATES[states[t.name]]:16s} {t.name:30s} {os.path.relpath(t.output_dir)}" for t in tasks]


def status_lines(profile, rows, work_dir, results_path, jobs=1, budget_minutes=None):
    """What ``--status`` prints: each run's state (done by record, done on this machine, to
    run, to train again for its checkpoint), the estimate of what remains and, with a budget,
    which runs would start within it."""
    store = RecordStore.beside_others(records_folder(results_path, profile))
    tasks = plan_tasks(profile, rows, work_dir)
    states = task_states(tasks, store)
    known = store.all() + [folder_result(t) for t in tasks if t.is_done()]
    lines = [f"Benchmark '{profile.name}': records in {os.path.relpath(store.folder)}, runs in "
             f"{os.path.relpath(work_dir)}"]
    left, seconds = [], 0.0
    for t in tasks:
        estimate, source = estimate_seconds(t, known)
        state = {"record": "done (record)", "folder": "done (this machine; record written on the next run)",
                 "retrain": "done (record); trained again for its checkpoint",
                 "to run": "to run"}[states[t.name]]
        if states[t.name] in ("retrain", "to run"):
            left.append(t)
            seconds += estimate
            state += f", about {estimate / 60:.1f} min ({source})"
            if estimate / 60 > MAX_RUN_MINUTES:
                state += f"; over {MAX_RUN_MINUTES} min: it goes in pieces (--budget-minutes stops it at " \
                         "a checkpoint, the next invocation resumes it)"
        lines.append(f"  {t.name:30s} {state}")
    done = sum(1 for t in tasks if states[t.name] in ("record", "folder"))
    lines.append(f"{done} of {len(tasks)} runs done; {len(left)} left, about {seconds / 60:.0f} min of runs "
                 f"(about {seconds / 60 / max(1, jobs):.0f} min at --jobs {jobs})")
    if budget_minutes is not None:
        fitting = [t.name for t in left if estimate_seconds(t, known)[0] / 60 <= budget_minutes]
        lines.append(f"Within --budget-minutes {budget_minutes:g} a run starts only if its estimate fits what "
                     f"is left of the budget; runs that fit on their own: {', '.join(fitting) or 'none'}")
    records = {r["task"]: r for r in store.all()}
    for line in inconsistent_inputs(records):
        lines.append(f"WARNING: {line}")
    return lines
