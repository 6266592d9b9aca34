#!/usr/bin/env python
"""Benchmarks that write docs/RESULTS.md.

``--overhead``: the training cost of distillation. In one run, on batches of
the bundled dataset, it measures per-iteration time and peak memory of

- the student's training step alone (forward, backward, SGD step),
- the teacher's forward alone (backbone, no_grad),
- the distillation step (DistillationDetector: student step + teacher forward + losses),

and reports distill / (student + teacher forward); the target is <= 1.10.
Each measurement runs in its own process so that peak memory (max RSS on the
CPU, max allocated on CUDA) is its own.

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "RESULTS.md")
MODES = ("student", "teacher", "distill")


def _load_batches(cfg, count):
    from detectron2.config import instantiate

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
    torch.manual_seed(0)
    batches = _load_batches(cfg, warmup + iters)
    model = instantiate(cfg.model).to(device)
    model.train()
    student = model.student
    teacher = next(iter(model.teachers.values()))
    data_format = getattr(student, "input_format", "BGR")
    trained = {"student": student, "distill": model}.get(mode)
    optimizer = torch.optim.SGD(trained.parameters(), lr=1e-4) if trained is not None else None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step(batch):
        if mode == "teacher":
            teacher.features(batch, data_format)
            return
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


def run_overhead(args):
    os.makedirs(args.work_dir, exist_ok=True)
    weights = args.teacher_weights or _make_teacher_weights(
        args.config, args.opts, os.path.join(args.work_dir, "overhead_teacher.pth")
    )
    results = {}
    for mode in MODES:
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
    ratio = results["distill"]["median_s"] / (results["student"]["median_s"] + results["teacher"]["median_s"])
    command = " ".join(["python tools/benchmark.py --overhead", "--config", args.config,
                        "--iters", str(args.iters), *args.opts])
    section = overhead_markdown(results, ratio, command, args.config)
    write_section(RESULTS if args.results is None else args.results, "overhead", section)
    print(section)
    return ratio


def overhead_markdown(results, ratio, command, config):
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {results['student']['device']}"
    lines = [
        "## Training overhead of distillation",
        "",
        f"Command: `{command}`  ",
        f"Config: `{config}`; machine: {machine}; date: {datetime.date.today()}; "
        f"batch {results['student']['batch_size']} images; median of the timed iterations.",
        "",
        "| step | time / iter (s) | peak memory (MB) |",
        "|---|---|---|",
    ]
    names = {"student": "student training step alone", "teacher": "teacher forward alone",
             "distill": "distillation step"}
    for mode in MODES:
        r = results[mode]
        lines.append(f"| {names[mode]} | {r['median_s']:.3f} | {r['peak_mb']:.0f} |")
    verdict = "meets" if ratio <= 1.10 else "misses"
    lines += [
        "",
        f"Ratio distill / (student + teacher forward) = **{ratio:.3f}** ({verdict} the 1.10 target).",
        "Peak memory is the process's max RSS on the CPU (includes Python and torch, "
        "about the same in the three runs) or max allocated on CUDA.",
        "",
    ]
    return "\n".join(lines)


def write_section(path, key, markdown):
    """Replace (or append) the section between markers ``<!-- key -->`` in ``path``."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    text = open(path).read() if os.path.exists(path) else "# Results\n\nWritten by tools/benchmark.py.\n\n"
    block = f"{begin}\n{markdown}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overhead", action="store_true", help="measure distillation overhead")
    parser.add_argument("--config", default="configs/baselines/fitnet_R50_to_R18_retinanet.py")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--teacher-weights", default="", help="default: a fresh checkpoint")
    parser.add_argument("--work-dir", default="output/benchmark")
    parser.add_argument("--results", default=None, help="markdown file to update (docs/RESULTS.md)")
    parser.add_argument("--_measure", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)
    if args._measure:
        print(json.dumps(measure(args.config, args._measure, args.opts, args.warmup, args.iters,
                                 args.teacher_weights)))
        return
    if not args.overhead:
        parser.error("choose a benchmark: --overhead")
    run_overhead(args)


if __name__ == "__main__":
    main()
