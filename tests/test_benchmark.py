"""tools/benchmark.py --overhead on the tiny scale writes a well-formed results section."""
import re

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
    rows = re.findall(r"\| (student training step alone|teacher forward alone|distillation step) \| ([0-9.]+) \| ([0-9]+) \|", text)
    assert [r[0] for r in rows] == ["student training step alone", "teacher forward alone", "distillation step"]
    times = {name: float(t) for name, t, _ in rows}
    assert all(t > 0 for t in times.values())
    ratio = float(re.search(r"= \*\*([0-9.]+)\*\*", text).group(1))
    expected = times["distillation step"] / (times["student training step alone"] + times["teacher forward alone"])
    assert abs(ratio - expected) < 0.05 * expected + 2e-3  # the table rounds times to ms
    assert "Command: `python tools/benchmark.py --overhead" in text
    assert "distill" in proc.stdout


def test_write_section_replaces_its_own_block_only(tmp_path):
    import importlib.util

    from tool_runs import ROOT

    spec = importlib.util.spec_from_file_location("benchmark", f"{ROOT}/tools/benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    path = tmp_path / "R.md"
    benchmark.write_section(str(path), "a", "first A")
    benchmark.write_section(str(path), "b", "only B")
    benchmark.write_section(str(path), "a", "second A")
    text = path.read_text()
    assert "second A" in text and "first A" not in text and "only B" in text
    assert text.index("second A") < text.index("only B")
