#!/usr/bin/env python
"""Benchmarks that write docs/RESULTS.md.

**Results** (default): trains, on the bundled dataset at benchmark scale, the
teachers, the plain student, the distilled students (FitNet, PKD, CWD, MGD, FGD,
DMKD, MKD, DFMSD), the ablation rows of MKD table 4 and DFMSD tables 10-11 and a
Mask R-CNN student with and without MKD, each through
``tools/lazyconfig_train_net.py`` and evaluated with COCOEvaluator; then writes
the tables (mean +- std over seeds for the headline rows), the share of the
teacher-student gap closed, params/FLOPs/latency and figures. Rows and profiles
are in ``benchmarks/plan.py``; this tool is the command line over the
``benchmarks`` package. Every run is cached under ``--work-dir`` by a key of its
config files, overrides, schedule, seed and teachers: running the same command
again trains only what is missing or changed, and continues an interrupted run
from its last checkpoint.

    python tools/benchmark.py --quick           # the README demo: the converged protocol in small
                                                # (teachers, student at N and 2N, MKD, DFMSD; under
                                                # 15 min on 2 cores)
    python tools/benchmark.py                   # the full benchmark (profile "full")
    python tools/benchmark.py --plan            # what would run, and what is cached
    python tools/benchmark.py --quick --extra-rows conv_mgd   # the demo plus the MGD baseline

**Overhead** (``--overhead``): the training cost of distillation. In one run, on
batches of the bundled dataset, it measures per-iteration time and peak memory of

- the student's training step alone (forward, backward, SGD step),
- the teacher's forward alone (backbone, no_grad),
- the distillation step (DistillationDetector: student step + teacher forward + losses),

and reports distill / (student + teacher forward); the target is <= 1.05. For a
config whose distiller runs a second view (DFMSD's masking enhancement) it also
times the student backbone's step alone and reports the ratio with that second
pass (student backbone step + teacher forward) in the reference as well. Every
mode runs on the same batches (``_load_batches`` in ``benchmarks/overhead.py`` seeds
the loader).
Each measurement runs in its own process so that peak memory (max RSS on the
CPU, max allocated on CUDA) is its own. Each config measured gets its line of
the overhead table (kept in docs/results/overhead.json; measuring a config again
replaces its line).

    python tools/benchmark.py --overhead [--config configs/baselines/fitnet_R50_to_R18_retinanet.py]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the benchmarks package lives beside tools/

from benchmarks.migrate import migrate
from benchmarks.overhead import MODES, SECOND_VIEW_MODE, measure, run_overhead
from benchmarks.plan import PROFILES, rows_for
from benchmarks.runner import BenchmarkError
from benchmarks.section import RESULTS, result_tables
from benchmarks.session import plan_lines, reported_results, run_benchmark, status_lines


def _without_session_flags(argv):
    """The command line without the flags that say how this session runs it (budget, commits),
    not what it measures: the command a RESULTS section names."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--budget-minutes":
            skip = True
            continue
        if arg.startswith("--budget-minutes=") or arg == "--commit-records":
            continue
        out.append(arg)
    # the standard results file, named by another checkout's path (a benchmark run from a
    # snapshot worktree writes into the checkout's docs/RESULTS.md): not part of what it measures
    for i, arg in enumerate(out[:-1]):
        if arg == "--results" and out[i + 1].replace(os.sep, "/").endswith("docs/RESULTS.md"):
            return out[:i] + out[i + 2:]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overhead", action="store_true", help="measure distillation overhead")
    parser.add_argument("--quick", action="store_true", help="the demo profile (same as --profile quick)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--rows", nargs="+", default=(), metavar="ROW",
                        help="run only these rows of the profile (its teachers and warm-up are added); "
                             "the results name the rows left out")
    parser.add_argument("--extra-rows", nargs="+", default=(), metavar="ROW",
                        help="rows of benchmarks/plan.py to run besides the profile's")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at the same time")
    parser.add_argument("--plan", action="store_true", help="print the runs and their cache state; train nothing")
    parser.add_argument("--status", action="store_true",
                        help="print what is done (by record or on this machine), what remains and an "
                             "estimate of its time; train nothing")
    parser.add_argument("--budget-minutes", type=float, default=None, metavar="M",
                        help="start only the runs expected to finish within M minutes, stop the rest at "
                             "M minutes with their checkpoints kept; the same command goes on later")
    parser.add_argument("--commit-records", action="store_true",
                        help="git-commit each run's record (docs/results/runs/<profile>/) as it lands")
    parser.add_argument("--migrate-keys", metavar="COMMIT", default=None,
                        help="move the committed records and run folders whose cache key changed since "
                             "COMMIT to their new keys (after a change that trains the same models: "
                             "a new key scheme, a renamed config key); with --plan: only list them")
    parser.add_argument("--no-costs", action="store_true", help="skip params/FLOPs/latency")
    parser.add_argument("--config", default="configs/baselines/fitnet_R50_to_R18_retinanet.py",
                        help="--overhead: the distillation config")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--teacher-weights", default="",
                        help="--overhead: the checkpoint of a one-teacher config (default: a random one of its "
                             "shape; several teachers: give <teacher key>.weights=... overrides)")
    parser.add_argument("--work-dir", default="output/benchmark")
    parser.add_argument("--results", default=None, help="markdown file to update (docs/RESULTS.md)")
    parser.add_argument("--_measure", choices=MODES + (SECOND_VIEW_MODE,), help=argparse.SUPPRESS)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="--overhead: config overrides key=value")
    args = parser.parse_args(argv)
    if args._measure:
        print(json.dumps(measure(args.config, args._measure, args.opts, args.warmup, args.iters)))
        return
    if args.overhead:
        run_overhead(args)
        return
    if args.opts:
        parser.error(f"overrides {args.opts} apply to --overhead only; the benchmark's are in benchmarks/plan.py")
    if args.migrate_keys:
        records_root = os.path.join(os.path.dirname(os.path.abspath(args.results or RESULTS)), "results", "runs")
        try:
            migrate(args.migrate_keys, ROOT, records_root, args.work_dir, dry_run=args.plan)
        except (RuntimeError, subprocess.CalledProcessError) as e:
            sys.exit(f"benchmark error: --migrate-keys {args.migrate_keys}: {e}")
        return
    profile = PROFILES["quick" if args.quick else args.profile]
    try:
        rows = rows_for(profile, args.rows, extra=args.extra_rows)
        if args.plan:
            print("\n".join(plan_lines(profile, rows, args.work_dir, args.results or RESULTS)))
            return
        if args.status:
            print("\n".join(status_lines(profile, rows, args.work_dir, args.results or RESULTS, args.jobs,
                                          args.budget_minutes)))
            return
        if args.budget_minutes is not None and args.budget_minutes <= 0:
            parser.error(f"--budget-minutes {args.budget_minutes:g}: give a positive number of minutes")
        deadline = None if args.budget_minutes is None else time.time() + 60 * args.budget_minutes
        command = "python tools/benchmark.py " + " ".join(
            a for a in _without_session_flags(argv if argv is not None else sys.argv[1:]))
        tasks, results = run_benchmark(profile, rows, args.work_dir, args.results or RESULTS, jobs=args.jobs,
                                       costs=not args.no_costs, command=command.strip(), deadline=deadline,
                                       commit=args.commit_records)
    except (BenchmarkError, KeyError) as e:
        sys.exit(f"benchmark error: {e}")
    print(f"\nBenchmark '{profile.name}' (written to {os.path.relpath(args.results or RESULTS)}):\n")
    split = profile.report_splits[0] if profile.report_splits else ""
    print("\n".join(result_tables(results, reported_results(tasks, rows, profile), split)).rstrip())
    if profile.note:
        print(f"\n{profile.note}")


if __name__ == "__main__":
    main()
