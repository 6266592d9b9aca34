#!/usr/bin/env python
"""Benchmarks that write docs/RESULTS.md.

**Results** (default): trains, on the bundled dataset at benchmark scale, the
teachers, the plain student, the distilled students (FitNet, PKD, CWD, MGD, FGD,
DMKD, MKD, DFMSD), the ablation rows of MKD table 4 and DFMSD tables 10-11 and a
Mask R-CNN student with and without MKD, each through
``tools/lazyconfig_train_net.py`` and evaluated with COCOEvaluator; then writes
the tables (mean +- std over seeds for the headline rows), the share of the
teacher-student gap closed, params/FLOPs/latency and figures. Rows and profiles
are in ``benchmarks/plan.py``. Every run is cached under ``--work-dir`` by a
key of its config files, overrides, schedule, seed and teachers: running the
same command again trains only what is missing or changed, and continues an
interrupted run from its last checkpoint.

    python tools/benchmark.py --quick           # the README demo: teachers, student, MKD, DFMSD,
                                                # at a smaller scale (under 15 min on 2 cores)
    python tools/benchmark.py                   # the full benchmark (profile "full")
    python tools/benchmark.py --plan            # what would run, and what is cached
    python tools/benchmark.py --quick --extra-rows mgd   # the demo plus the MGD baseline

**Overhead** (``--overhead``): the training cost of distillation. In one run, on
batches of the bundled dataset, it measures per-iteration time and peak memory of

- the student's training step alone (forward, backward, SGD step),
- the teacher's forward alone (backbone, no_grad),
- the distillation step (DistillationDetector: student step + teacher forward + losses),

and reports distill / (student + teacher forward); the target is <= 1.05. For a
config whose distiller runs a second view (DFMSD's masking enhancement) it also
times the student backbone's step alone and reports the ratio with that second
pass (student backbone step + teacher forward) in the reference as well. Every
mode runs on the same batches (``_load_batches`` seeds the loader).
Each measurement runs in its own process so that peak memory (max RSS on the
CPU, max allocated on CUDA) is its own. Each config measured gets its line of
the overhead table (kept in docs/results/overhead.json; measuring a config again
replaces its line).

    python tools/benchmark.py --overhead [--config configs/baselines/fitnet_R50_to_R18_retinanet.py]
"""
import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from d2kd.utils.io import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the benchmarks package (plan, runner, report) lives beside tools/
RESULTS = os.path.join(ROOT, "docs", "RESULTS.md")
MODES = ("student", "teacher", "distill")
# DFMSD's masking enhancement runs the student backbone and the teacher again, on the
# enhanced view: this mode times that backbone pass (forward, backward, SGD step)
SECOND_VIEW_MODE = "student_backbone"
OVERHEAD_TARGET = 1.05  # distill / (student + teacher forward)


def _load_batches(cfg, count, seed=0):
    """The first ``count`` training batches of ``cfg``, the same in every process: the
    sampler's order, the augmentations' draws and the worker seeds all follow ``seed``
    (without it each mode of the overhead benchmark timed other images and sizes)."""
    from detectron2.config import instantiate
    from detectron2.utils.env import seed_all_rng

    seed_all_rng(seed)
    loader = iter(instantiate(cfg.dataloader.train))
    return [next(loader) for _ in range(count)]


def _peak_memory_mb(device):
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(config, mode, overrides, warmup, iters, teacher_weights):
    """Time ``iters`` steps of ``mode`` after ``warmup`` steps; return a dict of figures."""
    import torch

    from d2kd.config import apply_overrides_strictly, load_config
    from d2kd.utils.env import resolve_device
    from detectron2.config import instantiate
    from detectron2.utils.events import EventStorage

    cfg = apply_overrides_strictly(load_config(config), overrides)
    if teacher_weights:
        cfg.model.teachers.weights = teacher_weights
    device = resolve_device(cfg.train.get("device", None))
    batches = _load_batches(cfg, warmup + iters)
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device)
    model.train()
    student = model.student
    teacher = next(iter(model.teachers.values()))
    data_format = getattr(student, "input_format", "BGR")
    trained = {"student": student, "distill": model, SECOND_VIEW_MODE: student.backbone}.get(mode)
    optimizer = torch.optim.SGD(trained.parameters(), lr=1e-4) if trained is not None else None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step(batch):
        if mode == "teacher":
            teacher.features(batch, data_format)
            return
        if mode == SECOND_VIEW_MODE:
            features = student.backbone(student.preprocess_image(batch).tensor)
            losses = {level: f.mean() for level, f in features.items()}
        else:
            losses = trained(batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    times = []
    memory_before = _peak_memory_mb(device)
    with EventStorage():
        for i, batch in enumerate(batches):
            sync()
            start = time.perf_counter()
            step(batch)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return {
        "mode": mode,
        "median_s": statistics.median(times),
        "mean_s": statistics.fmean(times),
        "peak_mb": _peak_memory_mb(device),
        "peak_mb_before_steps": memory_before,
        "device": device,
        "batch_size": len(batches[0]),
    }


def _make_teacher_weights(config, overrides, path):
    """A teacher checkpoint of the right shape (random init): timing does not depend on weights."""
    import torch

    from d2kd.config import apply_overrides_strictly, load_config
    from detectron2.config import instantiate

    cfg = apply_overrides_strictly(load_config(config), overrides)
    torch.save({"model": instantiate(cfg.model.teachers.model).state_dict()}, path)
    return path


def runs_second_view(config, overrides=()):
    """Whether the config's distiller runs the student backbone and the teacher a second time
    (DFMSD's masking enhancement, ``model.masking_enhancement``)."""
    from d2kd.config import apply_overrides_strictly, load_config

    cfg = apply_overrides_strictly(load_config(config), list(overrides))
    return bool(cfg.model.get("masking_enhancement", False))


def overhead_ratios(modes):
    """``ratio``: distill / (student step + teacher forward), the target's reference.
    ``ratio_all_passes``: distill / (that + student backbone step + teacher forward again)
    when the second view was measured (``modes`` has :data:`SECOND_VIEW_MODE`), else None.
    ``modes``: mode -> {"median_s": seconds, ...}."""
    t = {mode: m["median_s"] for mode, m in modes.items()}
    one_pass = t["student"] + t["teacher"]
    all_passes = one_pass + t[SECOND_VIEW_MODE] + t["teacher"] if SECOND_VIEW_MODE in t else None
    return t["distill"] / one_pass, (None if all_passes is None else t["distill"] / all_passes)


def run_overhead(args):
    """Measure the modes of ``args.config`` (the second view's too where the distiller runs
    one); update its line of the overhead table."""
    os.makedirs(args.work_dir, exist_ok=True)
    weights = args.teacher_weights or _make_teacher_weights(
        args.config, args.opts, os.path.join(args.work_dir, "overhead_teacher.pth")
    )
    results = {}
    modes = MODES + ((SECOND_VIEW_MODE,) if runs_second_view(args.config, args.opts) else ())
    for mode in modes:
        print(f"[overhead] measuring {mode} ...", flush=True)
        cmd = [
            sys.executable, os.path.abspath(__file__), "--_measure", mode, "--config", args.config,
            "--warmup", str(args.warmup), "--iters", str(args.iters), "--teacher-weights", weights,
            *args.opts,
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        print(f"[overhead] {mode}: {results[mode]['median_s']:.3f} s/iter, "
              f"peak {results[mode]['peak_mb']:.0f} MB", flush=True)
    ratio, ratio_all_passes = overhead_ratios(results)
    command = " ".join(["python tools/benchmark.py --overhead", "--config", args.config,
                        "--warmup", str(args.warmup), "--iters", str(args.iters), *args.opts])
    results_path = RESULTS if args.results is None else args.results
    entry = {"config": args.config, "overrides": list(args.opts), "command": command, "date": str(datetime.date.today()),
             "machine": f"{platform.machine()}, {os.cpu_count()} cores, {results['student']['device']}",
             "batch_size": results["student"]["batch_size"], "ratio": ratio,
             "ratio_all_passes": ratio_all_passes, "modes": results}
    entries = record_overhead(overhead_store(results_path), entry)
    section = overhead_markdown(entries)
    write_section(results_path, "overhead", section)
    print(section)
    return ratio


def overhead_store(results_path):
    """The JSON file beside ``results_path`` that keeps one overhead measurement per config."""
    return os.path.join(os.path.dirname(os.path.abspath(results_path)), "results", "overhead.json")


def record_overhead(store, entry):
    """Add ``entry`` to ``store``, replacing an earlier one of the same config and overrides
    (``entry["overrides"]``, none if absent); return all entries."""
    entries = []
    if os.path.isfile(store):
        with open(store) as f:
            entries = [e for e in json.load(f) if _overhead_key(e) != _overhead_key(entry)]
    entries.append(entry)
    atomic_write_text(store, json.dumps(entries, indent=1))
    return entries


def _overhead_key(entry):
    return entry["config"], tuple(entry.get("overrides", ()))


def _overhead_label(entry):
    """The table's first cell: the config, and its overrides where the run had some."""
    overrides = " ".join(entry.get("overrides", ()))
    return f"`{entry['config']}`" + (f" with `{overrides}`" if overrides else "")


def overhead_markdown(entries):
    """The overhead table: one line per measured config (``record_overhead`` entries)."""
    lines = [
        "## Training overhead of distillation",
        "",
        "Per config, in one run of the command below it: the student's training step alone, the "
        "teacher's forward alone and the distillation step, each in its own process; median of the "
        "timed iterations. Ratio = distill / (student + teacher forward); the target is "
        f"<= {OVERHEAD_TARGET:.2f}. "
        "Peak memory: the process's max RSS on the CPU (Python and torch included, about the same "
        "in every mode) or max allocated on CUDA. DFMSD's masking enhancement (L_ME) runs the "
        "student backbone and the teacher a second time, on the enhanced view, by design; the "
        "target's reference counts one pass, so for such a config the tool also times the "
        "student backbone's step alone and gives \"all passes\" = distill / (student + teacher "
        "forward + student backbone step + teacher forward): what is left is the losses' own cost.",
        "",
        "| config | student step (s) | teacher forward (s) | distill step (s) | ratio | "
        "all passes: student backbone step (s), ratio | "
        "peak MB student / teacher / distill | batch | machine, date |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        m = e["modes"]
        verdict = "meets" if e["ratio"] <= OVERHEAD_TARGET else "misses"
        if SECOND_VIEW_MODE in m:
            all_passes = f"{m[SECOND_VIEW_MODE]['median_s']:.3f}, {e['ratio_all_passes']:.3f}"
        else:
            all_passes = "one pass: as ratio" if "ratio_all_passes" in e else "not measured"
        lines.append(
            f"| {_overhead_label(e)} | {m['student']['median_s']:.3f} | {m['teacher']['median_s']:.3f} | "
            f"{m['distill']['median_s']:.3f} | **{e['ratio']:.3f}** ({verdict}) | {all_passes} | "
            f"{m['student']['peak_mb']:.0f} / {m['teacher']['peak_mb']:.0f} / {m['distill']['peak_mb']:.0f} | "
            f"{e['batch_size']} | {e['machine']}, {e['date']} |"
        )
    lines += ["", "Commands:", ""] + [f"- `{e['command']}`" for e in entries] + [""]
    return "\n".join(lines)


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


# ---------------------------------------------------------------- the results benchmark


def _strongest_baselines(results, count=1):
    """The ``count`` baselines with the best AP (on the split that chooses) at their first seed
    (the seed every row has), best first, so that extra seeds of one baseline (``all_seeds``) do
    not change the choice."""
    baselines = [r for r in results.values() if r.row.role == "baseline"]
    return sorted(baselines, key=lambda r: r.values("AP")[0], reverse=True)[:count]


def _strongest_baseline(results):
    """The baseline with the best AP at its first seed; None without baselines."""
    best = _strongest_baselines(results)
    return best[0] if best else None


def records_folder(results_path, profile):
    """Where the records of ``profile``'s runs live: ``<results dir>/results/runs/<profile>``."""
    return os.path.join(os.path.dirname(os.path.abspath(results_path)), "results", "runs", profile.name)


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
    from benchmarks.plan import FIRST_ROLES
    from benchmarks.records import RecordStore
    from benchmarks.report import collect, results_document
    from benchmarks.runner import plan_tasks, run_tasks

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
    reported = collect(tasks, rows, split=profile.report_splits[0]) if profile.report_splits else None
    section = benchmark_markdown(profile, tasks, results, model_costs, figures, command, results_path,
                                 left_out=left_out, unfinished=unfinished, reported=reported)
    write_section(results_path, f"benchmark-{profile.name}", section)
    machine, date = _runs_machine_and_date(tasks)
    document = (results_document(profile, reported, command, date, machine,
                                 split=split_kind(profile.report_splits[0]), chosen_on=results)
                if reported is not None else results_document(profile, results, command, date, machine))
    write_results_json(os.path.join(figures_dir, f"{profile.name}.json"), document)
    return tasks, results


def split_kind(dataset):
    """``test`` for ``d2kd_shapes_bench_test``: the last word of a dataset's name."""
    return dataset.rsplit("_", 1)[-1]


def _machine():
    from benchmarks.runner import machine

    return machine()


def _runs_machine_and_date(tasks):
    """The machines the finished runs' records name and the day the last of them finished
    (this machine and today for runs without a record): a section rebuilt from records on
    another machine says where its figures were measured."""
    done = [t.result for t in tasks if t.result is not None]
    machines = sorted({r["machine"] for r in done if r.get("machine")}) or [_machine()]
    days = sorted(r["finished"][:10] for r in done if r.get("finished"))
    return "; ".join(machines), (days[-1] if days else str(datetime.date.today()))


def write_results_json(path, document):
    """Write ``document`` to ``path`` atomically (a temporary file, then a rename)."""
    atomic_write_text(path, json.dumps(document, indent=1))


def _draw_figures(profile, tasks, results, folder):
    """AP per method (error bars: std over seeds) and loss curves of the headline methods."""
    import matplotlib

    from benchmarks.plan import REFERENCE_ROLES

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import plot_losses

    os.makedirs(folder, exist_ok=True)
    figures = []
    shown = [r for r in results.values() if r.row.table == "main"]
    if shown:
        fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(shown)), 4))
        means = [r.mean() for r in shown]
        errors = [r.std() for r in shown]
        ax.bar(range(len(shown)), means, yerr=errors, capsize=4,
               color=["#888" if r.row.role in REFERENCE_ROLES else "#3a7" for r in shown])
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([r.row.label.replace(" (", "\n(") for r in shown], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("bbox AP (COCO, %)")
        ax.set_title(f"benchmark '{profile.name}': AP per method (error bar: std over seeds)")
        fig.tight_layout()
        path = os.path.join(folder, f"{profile.name}_ap.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        figures.append(("AP per method", path))
    for task in tasks:
        headline_method = task.row is not None and task.row.headline and task.row.role == "distill"
        if not headline_method or task.seed != _first_seed(tasks, task.row):
            continue
        metrics = _last_stage_metrics(task.output_dir)
        if not os.path.isfile(metrics):  # a run known from its record only
            continue
        detection, distillation = plot_losses.loss_series(plot_losses.read_metrics(metrics))
        path = os.path.join(folder, f"{profile.name}_losses_{task.row.name}.png")
        stage = ", last SAL stage" if task.row.stages > 1 else ""
        # log scale: the distillation terms can be 100x the detection losses
        plot_losses.plot_losses(detection, distillation, path, log_y=True,
                                title=f"{task.row.label}, seed {task.seed}{stage}")
        figures.append((f"loss curves, {task.row.label}", path))
    return figures


def _first_seed(tasks, row):
    return min(t.seed for t in tasks if t.row is not None and t.row.name == row.name)


def _last_stage_metrics(output_dir):
    """metrics.json of a run folder, or of its last SAL stage."""
    from benchmarks.report import last_stage_dir

    return os.path.join(last_stage_dir(output_dir), "metrics.json")


def _final_checkpoint(output_dir):
    from benchmarks.report import last_stage_dir

    return os.path.join(last_stage_dir(output_dir), "model_final.pth")


LATENCY_SIZE = 224  # px, the square input of the FLOP count and the latency
LATENCY_ROUNDS = 30


def _latency_image(cfg, size):
    """The first image of ``cfg``'s test split, resized to size x size: (3, size, size)
    float tensor, 0-255, in the config's input format (``dataloader.test.mapper.image_format``).
    A real image, so that the detections that reach NMS are those of a trained
    detector on its data rather than on noise."""
    import cv2
    import torch

    from detectron2.data import get_detection_dataset_dicts
    from detectron2.data.detection_utils import read_image

    first = get_detection_dataset_dicts(cfg.dataloader.test.dataset.names, filter_empty=False)[0]
    image = read_image(first["file_name"], format=cfg.dataloader.test.mapper.image_format)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return torch.as_tensor(image.astype("float32").transpose(2, 0, 1).copy())


def _latencies_ms(models, image, rounds=LATENCY_ROUNDS):
    """CPU wall time (ms) of one eval-mode forward of each model on ``image``.

    ``models``: ``{label: model}``. Every round runs each model once, in turn, so a
    change of the machine's speed during the measurement reaches all models alike.
    Returns ``{label: (median, 25th percentile, 75th percentile)}`` over ``rounds``.
    """
    import torch

    times = {label: [] for label in models}
    with torch.no_grad():
        for model in models.values():
            model.eval()
            model([{"image": image}])  # first call: allocations, lazy set-up
        for _ in range(rounds):
            for label, model in models.items():
                start = time.perf_counter()
                model([{"image": image}])
                times[label].append(1000 * (time.perf_counter() - start))
    out = {}
    for label, values in times.items():
        q1, median, q3 = statistics.quantiles(values, n=4)
        out[label] = (median, q1, q3)
    return out


def _model_costs(results, work_dir, profile, size=LATENCY_SIZE):
    """Params, GFLOPs and CPU latency of every teacher, the plain students and the
    exported distilled students (loaded strictly into the plain student's config).
    Every model runs with its trained weights (the number of boxes that reach NMS,
    hence the latency, depends on them), on one image of the test split."""
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from analyze_models import analyze_entry
    from export_student import export_student

    from benchmarks.runner import _load
    from d2kd.modeling.checkpoint import load_weights_strictly
    from detectron2.config import instantiate

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rows_out, models = [], {}
    plain = {}  # student architecture -> the plain student row's config
    for r in results.values():
        if r.row.role == "student":
            plain[r.row.table] = r.row

    def add(label, node, weights, note):
        figures = analyze_entry(node, size, False, 1, 1)
        model = instantiate(node)
        if weights:
            load_weights_strictly(model, weights)
        models[label] = model
        flops = (figures["backbone_flops"] or 0) + (figures["head_flops"] or 0)
        rows_out.append(dict(model=label, params=figures["params"], gflops=flops / 1e9, note=note))

    image_cfg = None
    for r in results.values():
        if r.row.role in ("teacher", "student"):
            cfg = _load(r.row.config, list(profile.overrides) + list(r.row.overrides))
            image_cfg = cfg if image_cfg is None else image_cfg
            add(r.row.label, cfg.model, _final_checkpoint(r.tasks[0].output_dir), "trained weights")
    for r in results.values():
        if r.row.role != "distill" or not r.row.headline or r.row.table not in plain:
            continue
        student_row = plain[r.row.table]
        cfg = _load(student_row.config, list(profile.overrides) + list(student_row.overrides))
        exported = os.path.join(work_dir, profile.name, "exported", f"{r.row.name}.pth")
        os.makedirs(os.path.dirname(exported), exist_ok=True)
        export_student(_final_checkpoint(r.tasks[0].output_dir), exported, force=True)
        add(f"{r.row.label} student, exported", cfg.model, exported, f"loads strictly into {student_row.config}")
    if models:
        image_format = image_cfg.dataloader.test.mapper.image_format
        formats = {label: getattr(m, "input_format", None) for label, m in models.items()}
        other = {label: f for label, f in formats.items() if f not in (None, image_format)}
        if other:
            raise ValueError(f"Latency: the models take different input formats ({other} against "
                             f"{image_format}); measure them in separate benchmark profiles")
        latencies = _latencies_ms(models, _latency_image(image_cfg, size))
        for row in rows_out:
            row["latency_ms"], row["latency_q1"], row["latency_q3"] = latencies[row["model"]]
    return rows_out


def benchmark_markdown(profile, tasks, results, model_costs, figures, command, results_path, left_out=(),
                       unfinished=(), reported=None):
    """The profile's RESULTS section. ``results``: on the split each config evaluates (val, which
    chooses); ``reported``: the same rows on the profile's first report split (held out), whose
    tables follow each val table."""
    from benchmarks.report import TABLE_TITLES, main_table, paired_table, segm_table, targets
    from benchmarks.runner import finished_at

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
    for table, title in TABLE_TITLES.items():
        if not any(r.row.table == table for r in results.values()):
            continue
        on_splits = [("", results)]
        if reported is not None and any(r.row.table == table for r in reported.values()):
            on_splits.append((profile.report_splits[0], reported))
        for split, rows_on_split in on_splits:
            where = f" on the held-out split {split} (reports only)" if split else (
                " on val (chooses)" if reported is not None else "")
            lines += [f"### {title}{where}", "", main_table(rows_on_split, table), ""]
            if table == "mask_rcnn":
                lines += [segm_table(rows_on_split, table), ""]
            if any(len(r.seeds) > 1 for r in rows_on_split.values() if r.row.table == table):
                lines += ["Seed-paired differences (seed k of a row against seed k of the row it is measured "
                          "against: same start, data order and iterations):", "",
                          paired_table(rows_on_split, table), ""]
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


MAX_RUN_MINUTES = 45  # one run longer than this goes in pieces (budget stop, then --resume)


def status_lines(profile, rows, work_dir, results_path, jobs=1, budget_minutes=None):
    """What ``--status`` prints: each run's state (done by record, done on this machine, to
    run, to train again for its checkpoint), the estimate of what remains and, with a budget,
    which runs would start within it."""
    from benchmarks.records import RecordStore, inconsistent_inputs
    from benchmarks.runner import estimate_seconds, folder_result, plan_tasks, task_states

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


def main(argv=None):
    from benchmarks.plan import PROFILES, row_by_name, rows_for

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
    parser.add_argument("--no-costs", action="store_true", help="skip params/FLOPs/latency")
    parser.add_argument("--config", default="configs/baselines/fitnet_R50_to_R18_retinanet.py",
                        help="--overhead: the distillation config")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--teacher-weights", default="", help="--overhead: default a fresh checkpoint")
    parser.add_argument("--work-dir", default="output/benchmark")
    parser.add_argument("--results", default=None, help="markdown file to update (docs/RESULTS.md)")
    parser.add_argument("--_measure", choices=MODES + (SECOND_VIEW_MODE,), help=argparse.SUPPRESS)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="--overhead: config overrides key=value")
    args = parser.parse_args(argv)
    if args._measure:
        print(json.dumps(measure(args.config, args._measure, args.opts, args.warmup, args.iters,
                                 args.teacher_weights)))
        return
    if args.overhead:
        run_overhead(args)
        return
    from benchmarks.report import main_table
    from benchmarks.runner import BenchmarkError, plan_tasks

    if args.opts:
        parser.error(f"overrides {args.opts} apply to --overhead only; the benchmark's are in benchmarks/plan.py")
    profile = PROFILES["quick" if args.quick else args.profile]
    try:
        rows = rows_for(profile, args.rows)
        rows += [row_by_name(n) for n in args.extra_rows if n not in profile.rows]
        if args.plan:
            for t in plan_tasks(profile, rows, args.work_dir):
                print(f"{'cached ' if t.is_done() else 'to run '} {t.name:28s} {os.path.relpath(t.output_dir)}")
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
        _, results = run_benchmark(profile, rows, args.work_dir, args.results or RESULTS, jobs=args.jobs,
                                   costs=not args.no_costs, command=command.strip(), deadline=deadline,
                                   commit=args.commit_records)
    except (BenchmarkError, KeyError) as e:
        sys.exit(f"benchmark error: {e}")
    print(f"\nBenchmark '{profile.name}' (written to {os.path.relpath(args.results or RESULTS)}):\n")
    print(main_table(results, "main"))
    if profile.note:
        print(f"\n{profile.note}")


if __name__ == "__main__":
    main()
