"""The training cost of distillation (``tools/benchmark.py --overhead``): per-iteration time
and peak memory of the student's step, the teacher's forward and the distillation step, each
measured in its own process, and the overhead table of docs/RESULTS.md (one line per config,
kept in docs/results/overhead.json)."""
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from detectron2.config import instantiate
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage

from d2kd.config import apply_overrides_strictly, load_config
from d2kd.config.teachers import iter_teachers
from d2kd.utils.env import resolve_device
from d2kd.utils.io import atomic_write_text
from .runner import ROOT
from .section import RESULTS, write_section

BENCHMARK_TOOL = os.path.join(ROOT, "tools", "benchmark.py")  # its hidden --_measure runs one mode
MODES = ("student", "teacher", "distill")
# DFMSD's masking enhancement runs the student backbone and the teacher again, on the
# enhanced view: this mode times that backbone pass (forward, backward, SGD step)
SECOND_VIEW_MODE = "student_backbone"
OVERHEAD_TARGET = 1.05  # distill / (student + teacher forward)


def _load_batches(cfg, count, seed=0):
    """The first ``count`` training batches of ``cfg``, the same in every process: the
    sampler's order, the augmentations' draws and the worker seeds all follow ``seed``
    (without it each mode of the overhead benchmark timed other images and sizes)."""
    seed_all_rng(seed)
    loader = iter(instantiate(cfg.dataloader.train))
    return [next(loader) for _ in range(count)]


def _peak_memory_mb(device):
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(config, mode, overrides, warmup, iters):
    """Time ``iters`` steps of ``mode`` after ``warmup`` steps; return a dict of figures.
    ``overrides`` set the teachers' weights (``<teacher key>.weights=<checkpoint>``); the
    teacher mode runs every teacher's forward."""
    cfg = apply_overrides_strictly(load_config(config), overrides)
    device = resolve_device(cfg.train.get("device", None))
    batches = _load_batches(cfg, warmup + iters)
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device)
    model.train()
    student = model.student
    teachers = list(model.teachers.values())
    data_format = getattr(student, "input_format", "BGR")
    trained = {"student": student, "distill": model, SECOND_VIEW_MODE: student.backbone}.get(mode)
    optimizer = torch.optim.SGD(trained.parameters(), lr=1e-4) if trained is not None else None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step(batch):
        if mode == "teacher":
            for teacher in teachers:
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


def teacher_weights_overrides(config, overrides, folder, given=""):
    """``<key>.weights=<checkpoint>`` overrides for every teacher of ``config`` (found with
    :func:`~d2kd.config.teachers.iter_teachers`): ``given`` for a config with one teacher,
    else a randomly initialised checkpoint of each teacher's shape written into ``folder``
    (timing does not depend on the weights)."""
    cfg = apply_overrides_strictly(load_config(config), overrides)
    teachers = iter_teachers(cfg.model)
    if given:
        if len(teachers) != 1:
            raise ValueError(f"--teacher-weights names one checkpoint, but {config} has {len(teachers)} "
                             f"teachers; give each as an override instead: "
                             + " ".join(f"{t.key}.weights=<checkpoint>" for t in teachers))
        return [f"{teachers[0].key}.weights={given}"]
    out = []
    for teacher in teachers:
        path = os.path.join(folder, f"overhead_{teacher.name or 'teacher'}.pth")
        torch.save({"model": instantiate(teacher.node.model).state_dict()}, path)
        out.append(f"{teacher.key}.weights={path}")
    return out


def runs_second_view(config, overrides=()):
    """Whether the config's distiller runs the student backbone and the teacher a second time
    (DFMSD's masking enhancement, ``model.masking_enhancement``)."""
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
    weights = teacher_weights_overrides(args.config, args.opts, args.work_dir, args.teacher_weights)
    results = {}
    modes = MODES + ((SECOND_VIEW_MODE,) if runs_second_view(args.config, args.opts) else ())
    for mode in modes:
        print(f"[overhead] measuring {mode} ...", flush=True)
        cmd = [
            sys.executable, BENCHMARK_TOOL, "--_measure", mode, "--config", args.config,
            "--warmup", str(args.warmup), "--iters", str(args.iters), *args.opts, *weights,
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
