"""Deploy costs of a benchmark's models: params, fvcore GFLOPs and CPU latency at one
LATENCY_SIZE x LATENCY_SIZE image, with their trained weights."""
import os
import statistics
import time

import cv2
import torch
from detectron2.config import instantiate

from .runner import _load, last_stage_dir
from .scripts import tool_module

LATENCY_SIZE = 224  # px, the square input of the FLOP count and the latency
LATENCY_ROUNDS = 30


def _latency_image(cfg, size):
    """The first image of ``cfg``'s test split, resized to size x size: (3, size, size)
    float tensor, 0-255, in the config's input format (``dataloader.test.mapper.image_format``).
    A real image, so that the detections that reach NMS are those of a trained
    detector on its data rather than on noise."""
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


def _final_checkpoint(output_dir):
    return os.path.join(last_stage_dir(output_dir), "model_final.pth")


def _model_costs(results, work_dir, profile, size=LATENCY_SIZE):
    """Params, GFLOPs and CPU latency of every teacher, the plain students and the
    exported distilled students (loaded strictly into the plain student's config).
    Every model runs with its trained weights (the number of boxes that reach NMS,
    hence the latency, depends on them), on one image of the test split."""
    from d2kd.modeling.checkpoint import load_weights_strictly

    analyze_entry = tool_module("analyze_models").analyze_entry
    export_student = tool_module("export_student").export_student

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
        name = r.row.label if "student" in r.row.label else f"{r.row.label} student"
        add(f"{name}, exported", cfg.model, exported, f"loads strictly into {student_row.config}")
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
