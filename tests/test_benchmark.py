"""tools/benchmark.py --overhead on the tiny scale writes a well-formed results section."""
import json
import re

import pytest
import torch

from benchmarks import overhead
from benchmarks.section import write_section
from tool_runs import TINY_DATA, run_tool, shrink_model


def test_overhead_benchmark_writes_its_table(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nkept text\n")
    overrides = TINY_DATA + shrink_model("model.student") + [
        "model.teachers.model.backbone.bottom_up.stages.base_width=8",
        "model.min_input_size=96",
    ]
    proc = run_tool(
        "benchmark.py", "--overhead", "--warmup", "1", "--iters", "2", "--results", results,
        "--work-dir", tmp_path, *overrides, env={"D2KD_DATASETS": str(tmp_path / "data")},
    )
    text = results.read_text()
    assert "kept text" in text and text.count("<!-- begin overhead -->") == 1
    config = "configs/baselines/fitnet_R50_to_R18_retinanet.py"
    cells = _overhead_line(text, config, " ".join(overrides))  # a line per config and overrides
    student, teacher, distill = (float(c) for c in cells[1:4])
    assert min(student, teacher, distill) > 0
    ratio = float(re.match(r"\*\*([0-9.]+)\*\*", cells[4]).group(1))
    assert cells[5] == "one pass: as ratio"  # FitNet runs no second view
    assert abs(ratio - distill / (student + teacher)) < 0.05 * ratio + 2e-3  # the table rounds to ms
    assert f"- `python tools/benchmark.py --overhead --config {config}" in text
    stored = json.loads((tmp_path / "results" / "overhead.json").read_text())
    assert [e["config"] for e in stored] == [config] and stored[0]["ratio"] == pytest.approx(ratio, abs=1e-3)
    assert "distill" in proc.stdout


def _overhead_line(text, config, overrides=""):
    label = f"`{config}`" + (f" with `{overrides}`" if overrides else "")
    lines = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
    assert len(lines) == 1, text
    return [c.strip() for c in lines[0].strip("|").split("|")]


def _entry(config, student, teacher, distill):
    modes = {m: {"median_s": t, "peak_mb": 100.0} for m, t in
             [("student", student), ("teacher", teacher), ("distill", distill)]}
    return {"config": config, "command": f"python tools/benchmark.py --overhead --config {config}",
            "date": "2026-12-02", "machine": "x86_64, 2 cores, cpu", "batch_size": 8,
            "ratio": distill / (student + teacher), "modes": modes}


def test_overhead_table_keeps_one_line_per_config(tmp_path):
    store = str(tmp_path / "overhead.json")
    overhead.record_overhead(store, _entry("a.py", 1.0, 0.5, 1.2))
    overhead.record_overhead(store, _entry("b.py", 1.0, 1.0, 3.0))
    entries = overhead.record_overhead(store, _entry("a.py", 1.0, 0.25, 1.5))  # a.py measured again
    text = overhead.overhead_markdown(entries)
    assert [e["config"] for e in entries] == ["b.py", "a.py"]
    assert _overhead_line(text, "a.py")[1:5] == ["1.000", "0.250", "1.500", "**1.200** (misses)"]
    assert _overhead_line(text, "b.py")[4] == "**1.500** (misses)"
    entries = overhead.record_overhead(store, _entry("c.py", 1.0, 1.0, 2.0))
    assert _overhead_line(overhead.overhead_markdown(entries), "c.py")[4] == "**1.000** (meets)"
    # the same config with overrides is a line of its own, replaced only by the same overrides
    variant = {**_entry("a.py", 1.0, 0.5, 1.5), "overrides": ["model.x=False"]}
    overhead.record_overhead(store, variant)
    entries = overhead.record_overhead(store, {**variant, "ratio": 1.0})
    text = overhead.overhead_markdown(entries)
    assert [(e["config"], e.get("overrides")) for e in entries] == [
        ("b.py", None), ("a.py", None), ("c.py", None), ("a.py", ["model.x=False"])]
    assert _overhead_line(text, "a.py")[4] == "**1.200** (misses)"
    assert "| `a.py` with `model.x=False` | 1.000 | 0.500 | 1.500 | **1.000** (meets) |" in text


def test_write_section_replaces_its_own_block_only(tmp_path):
    path = tmp_path / "R.md"
    write_section(str(path), "a", "first A")
    write_section(str(path), "b", "only B")
    write_section(str(path), "a", "second A")
    text = path.read_text()
    assert "second A" in text and "first A" not in text and "only B" in text
    assert text.index("second A") < text.index("only B")


def test_all_passes_reference_adds_the_second_views_backbone_step_and_teacher_forward():
    modes = {m: {"median_s": t, "peak_mb": 100.0} for m, t in
             [("student", 1.0), ("teacher", 0.5), ("distill", 3.0), (overhead.SECOND_VIEW_MODE, 0.6)]}
    ratio, all_passes = overhead.overhead_ratios(modes)
    assert ratio == pytest.approx(3.0 / 1.5)
    assert all_passes == pytest.approx(3.0 / (1.5 + 0.6 + 0.5))
    two_views = {**_entry("dfmsd.py", 1.0, 0.5, 3.0), "ratio_all_passes": all_passes}
    two_views["modes"][overhead.SECOND_VIEW_MODE] = modes[overhead.SECOND_VIEW_MODE]
    one_view = {**_entry("cwd.py", 1.0, 0.5, 1.6), "ratio_all_passes": None}
    older = _entry("fitnet.py", 1.0, 0.5, 1.6)  # measured before the column existed
    text = overhead.overhead_markdown([two_views, one_view, older])
    assert _overhead_line(text, "dfmsd.py")[4:6] == ["**2.000** (misses)", "0.600, 1.154"]
    assert _overhead_line(text, "cwd.py")[5] == "one pass: as ratio"
    assert _overhead_line(text, "fitnet.py")[5] == "not measured"
    assert overhead.overhead_ratios({m: modes[m] for m in ("student", "teacher", "distill")})[1] is None


def test_only_masking_enhancement_configs_run_a_second_view():
    assert overhead.runs_second_view("projects/DFMSD/configs/Shapes/dfmsd_onestage_R18w64_to_R18_faster_rcnn.py")
    assert not overhead.runs_second_view("projects/DFMSD/configs/Shapes/dfmsd_onestage_R18w64_to_R18_faster_rcnn.py",
                                          ["model.masking_enhancement=False"])
    assert not overhead.runs_second_view("projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py")


def test_second_view_mode_times_the_student_backbone_step(tmp_path, monkeypatch):
    monkeypatch.setenv("D2KD_DATASETS", str(tmp_path / "data"))
    config = "configs/baselines/fitnet_R50_to_R18_retinanet.py"
    overrides = TINY_DATA + shrink_model("model.student") + [
        "model.teachers.model.backbone.bottom_up.stages.base_width=8", "model.min_input_size=96"]
    weights = overhead.teacher_weights_overrides(config, overrides, str(tmp_path))
    assert weights == [f"model.teachers.weights={tmp_path}/overhead_teacher.pth"]
    figures = overhead.measure(config, overhead.SECOND_VIEW_MODE, overrides + weights, 1, 2)
    assert figures["mode"] == overhead.SECOND_VIEW_MODE and figures["median_s"] > 0
    assert figures["batch_size"] == 2


def test_every_overhead_mode_times_the_same_batches(tmp_path, monkeypatch):
    """Each mode runs in its own process; all of them must load the same images at the same sizes."""
    monkeypatch.setenv("D2KD_DATASETS", str(tmp_path / "data"))
    from d2kd.config import apply_overrides_strictly, load_config

    cfg = apply_overrides_strictly(load_config("configs/Shapes/faster_rcnn_R18_FPN.py"),
                                   TINY_DATA + ["dataloader.train.mapper.augmentations.0.short_edge_length=[64,96,128]"])

    def signature(batches):
        return [(x["image_id"], tuple(x["image"].shape)) for batch in batches for x in batch]

    first = signature(overhead._load_batches(cfg, 4))
    import numpy as np
    import torch
    np.random.seed(123), torch.manual_seed(123)  # another process's state: no effect
    assert signature(overhead._load_batches(cfg, 4)) == first
    assert len({shape for _, shape in first}) > 1  # the sizes do vary, so the check has teeth
    assert signature(overhead._load_batches(cfg, 4, seed=1)) != first


def test_overhead_teacher_weights_for_one_or_several_teachers(tmp_path):
    """Every teacher of the config gets a checkpoint of its shape (found as every tool finds a
    config's teachers); --teacher-weights names the one teacher's, and for several teachers the
    error names each key to override instead."""
    config = tmp_path / "two_teachers.py"
    config.write_text(
        "from detectron2.config import LazyCall as L\n"
        "from d2kd.config import zoo\n"
        "from d2kd.modeling import Teacher\n"
        "_base = zoo.get_config('baselines/fitnet_R18w64_to_R18_faster_rcnn.py')\n"
        "dataloader, lr_multiplier, model, optimizer, train = (\n"
        "    _base.dataloader, _base.lr_multiplier, _base.model, _base.optimizer, _base.train)\n"
        "model.teachers = {'weak': L(Teacher)(model=model.teachers.model, weights='w.pth'),\n"
        "                  'strong': L(Teacher)(model=model.teachers.model, weights='s.pth')}\n")
    small = ["model.teachers.weak.model.backbone.bottom_up.stages.base_width=8",
             "model.teachers.strong.model.backbone.bottom_up.stages.base_width=16"]
    weights = overhead.teacher_weights_overrides(str(config), small, str(tmp_path))
    assert weights == [f"model.teachers.weak.weights={tmp_path}/overhead_weak.pth",
                       f"model.teachers.strong.weights={tmp_path}/overhead_strong.pth"]
    widths = [torch.load(w.split("=", 1)[1])["model"]["backbone.bottom_up.stem.conv1.weight"].shape[0]
              for w in weights]
    assert widths == [8, 16]  # each checkpoint has its own teacher's shape
    with pytest.raises(ValueError, match="has 2 teachers; give each as an override instead: "
                                         "model.teachers.weak.weights=<checkpoint> "
                                         "model.teachers.strong.weights=<checkpoint>"):
        overhead.teacher_weights_overrides(str(config), small, str(tmp_path), given="t.pth")
    one = "configs/baselines/fitnet_R18w64_to_R18_faster_rcnn.py"
    assert overhead.teacher_weights_overrides(one, [], str(tmp_path), given="t.pth") == [
        "model.teachers.weights=t.pth"]
