"""tools/benchmark.py --overhead on the tiny scale writes a well-formed results section."""
import json
import re

import pytest

from tool_runs import TINY_DATA, load_tool, run_tool, shrink_model


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
    cells = _overhead_line(text, config)
    student, teacher, distill = (float(c) for c in cells[1:4])
    assert min(student, teacher, distill) > 0
    ratio = float(re.match(r"\*\*([0-9.]+)\*\*", cells[4]).group(1))
    assert abs(ratio - distill / (student + teacher)) < 0.05 * ratio + 2e-3  # the table rounds to ms
    assert f"- `python tools/benchmark.py --overhead --config {config}" in text
    stored = json.loads((tmp_path / "results" / "overhead.json").read_text())
    assert [e["config"] for e in stored] == [config] and stored[0]["ratio"] == pytest.approx(ratio, abs=1e-3)
    assert "distill" in proc.stdout


def _overhead_line(text, config):
    lines = [line for line in text.splitlines() if line.startswith(f"| `{config}` |")]
    assert len(lines) == 1, text
    return [c.strip() for c in lines[0].strip("|").split("|")]


def _entry(config, student, teacher, distill):
    modes = {m: {"median_s": t, "peak_mb": 100.0} for m, t in
             [("student", student), ("teacher", teacher), ("distill", distill)]}
    return {"config": config, "command": f"python tools/benchmark.py --overhead --config {config}",
            "date": "2026-12-02", "machine": "x86_64, 2 cores, cpu", "batch_size": 8,
            "ratio": distill / (student + teacher), "modes": modes}


def test_overhead_table_keeps_one_line_per_config(tmp_path):
    benchmark = load_tool("benchmark")
    store = str(tmp_path / "overhead.json")
    benchmark.record_overhead(store, _entry("a.py", 1.0, 0.5, 1.2))
    benchmark.record_overhead(store, _entry("b.py", 1.0, 1.0, 3.0))
    entries = benchmark.record_overhead(store, _entry("a.py", 1.0, 0.25, 1.5))  # a.py measured again
    text = benchmark.overhead_markdown(entries)
    assert [e["config"] for e in entries] == ["b.py", "a.py"]
    assert _overhead_line(text, "a.py")[1:5] == ["1.000", "0.250", "1.500", "**1.200** (misses)"]
    assert _overhead_line(text, "b.py")[4] == "**1.500** (misses)"
    entries = benchmark.record_overhead(store, _entry("c.py", 1.0, 1.0, 2.0))
    assert _overhead_line(benchmark.overhead_markdown(entries), "c.py")[4] == "**1.000** (meets)"


def test_write_section_replaces_its_own_block_only(tmp_path):
    benchmark = load_tool("benchmark")
    path = tmp_path / "R.md"
    benchmark.write_section(str(path), "a", "first A")
    benchmark.write_section(str(path), "b", "only B")
    benchmark.write_section(str(path), "a", "second A")
    text = path.read_text()
    assert "second A" in text and "first A" not in text and "only B" in text
    assert text.index("second A") < text.index("only B")
