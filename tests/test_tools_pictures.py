"""tools/plot_losses.py, tools/plot_diagnostics.py and tools/visualize_features.py on tiny
inputs (no models).

Their run on a real training run's outputs is in tests/test_mkd.py.
"""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from tool_runs import load_tool


plot_losses = load_tool("plot_losses")
visualize = load_tool("visualize_features")


def _png(path):
    assert os.path.getsize(path) > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5, "blank picture"
    return image.size


# ------------------------------------------------------------ plot_losses


def _metrics(path, records):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return str(path)


RECORDS = [
    {"iteration": 0, "total_loss": 9.0, "loss_cls": 1.0, "loss_mkd_fea_p3": 2.0, "loss_mkd_fea_p4": 3.0,
     "loss_mkd_fad_p3": 0.5, "lr": 0.01, "time": 0.3},
    {"iteration": 1, "total_loss": 7.0, "loss_cls": 0.9, "loss_mkd_fea_p3": 1.0, "loss_mkd_fea_p4": 2.0,
     "loss_mkd_fad_p3": 0.4, "lr": 0.02},
    {"iteration": 1, "bbox/AP": 3.0},  # evaluation
    {"iteration": 1, "total_loss": 6.0, "loss_cls": 0.8, "loss_mkd_fea_p3": 1.5, "loss_mkd_fea_p4": 1.5,
     "loss_mkd_fad_p3": 0.3},  # a resumed run wrote iteration 1 again
]


def test_loss_series_split_and_level_sums():
    detection, distillation = plot_losses.loss_series(RECORDS)
    assert set(detection) == {"total_loss", "loss_cls"}
    assert detection["loss_cls"] == ([0, 1], [1.0, 0.8])  # the last write of iteration 1 wins
    assert distillation == {"loss_mkd_fad": ([0, 1], [0.5, 0.3]), "loss_mkd_fea": ([0, 1], [5.0, 3.0])}
    _, per_level = plot_losses.loss_series(RECORDS, per_level=True)
    assert set(per_level) == {"loss_mkd_fea_p3", "loss_mkd_fea_p4", "loss_mkd_fad_p3"}
    assert plot_losses.is_distillation_key("loss_dmkd_spatial_p5")
    assert not plot_losses.is_distillation_key("loss_rpn_loc")


def test_plot_losses_cli_writes_a_png_beside_the_metrics(tmp_path):
    metrics = _metrics(tmp_path / "metrics.json", RECORDS)
    path = plot_losses.main([metrics, "--log-y"])
    assert path == str(tmp_path / "losses.png")
    assert _png(path) == (1280, 440)


def test_plot_losses_without_distillation_has_one_panel(tmp_path):
    metrics = _metrics(tmp_path / "metrics.json", [{"iteration": 0, "total_loss": 1.0, "loss_cls": 1.0}])
    assert _png(plot_losses.main([metrics, "--output", str(tmp_path / "a" / "b.png")])) == (640, 440)


def test_plot_losses_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        plot_losses.main([str(tmp_path / "metrics.json")])
    metrics = _metrics(tmp_path / "metrics.json", [{"iteration": 0, "bbox/AP": 1.0}])
    with pytest.raises(ValueError, match="No loss values"):
        plot_losses.main([metrics])
    (tmp_path / "bad.json").write_text("{not json\n")
    with pytest.raises(ValueError, match="bad.json:1"):
        plot_losses.read_metrics(str(tmp_path / "bad.json"))


# ------------------------------------------------------------ visualize_features


def test_reduce_channels():
    x = torch.tensor([[[1.0, -2.0]], [[3.0, 2.0]]])  # (C=2, H=1, W=2)
    assert np.allclose(visualize.reduce_channels(x, "mean"), [[2.0, 0.0]])
    assert np.allclose(visualize.reduce_channels(x, "abs"), [[2.0, 2.0]])
    with pytest.raises(ValueError, match="reduce"):
        visualize.reduce_channels(x, "max")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        visualize.reduce_channels(x[None], "mean")


def test_feature_grid(tmp_path):
    g = torch.Generator().manual_seed(0)
    rows = {
        "teacher": {"p3": torch.randn(8, 12, 16, generator=g), "p4": torch.randn(8, 6, 8, generator=g)},
        "student": {"p3": torch.randn(4, 12, 16, generator=g), "p4": None},  # level missing
    }
    path = visualize.render_feature_grid(rows, str(tmp_path / "grid.png"))
    assert _png(path) == (520, 560)  # 2 levels x 2 models at 2.6 inch, 100 dpi
    with pytest.raises(ValueError, match="same"):
        visualize.render_feature_grid({"a": {"p3": rows["teacher"]["p3"]}, "b": {"p4": None}}, str(tmp_path / "x.png"))


def test_frequency_mask_panels_match_the_loss_function():
    x = torch.randn(1, 3, 6, 8, generator=torch.Generator().manual_seed(1))
    keep_all = visualize.frequency_mask_panels(x, zeta=0.0)
    assert keep_all["mask"].min() == 1.0
    assert np.allclose(keep_all["masked feature"], keep_all["feature"], atol=1e-5)
    drop_all = visualize.frequency_mask_panels(x, zeta=1.0)
    assert drop_all["mask"].max() == 0.0 and np.allclose(drop_all["masked feature"], 0.0)
    half = visualize.frequency_mask_panels(x, zeta=0.5, seed=3)
    assert set(np.unique(half["mask"])) == {0.0, 1.0}
    assert all(panel.shape == (6, 8) for panel in half.values())
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        visualize.frequency_mask_panels(x[0], zeta=0.5)


def test_frequency_mask_picture(tmp_path):
    x = torch.randn(1, 4, 10, 12, generator=torch.Generator().manual_seed(2))
    path = visualize.render_frequency_mask(x, 0.5, str(tmp_path / "fm.png"), seed=0)
    assert _png(path) == (1400, 350)  # 5 panels of 2.8 x 3.5 inch


# ------------------------------------------------------------ plot_diagnostics

plot_diagnostics = load_tool("plot_diagnostics")
DIAG_RECORDS = [
    {"iteration": 1, "total_loss": 2.0, "grad_ratio/fitnet/neck": 4.0, "grad_cos/fitnet/neck": 0.1,
     "grad_ratio/fitnet/heads": 0.0, "grad_norm/detection/neck": 2.0},
    {"iteration": 3, "grad_ratio/fitnet/neck": 2.0, "grad_cos/fitnet/neck": -0.3,
     "grad_ratio/fitnet/heads": 0.0},
    {"iteration": 5, "grad_ratio/fitnet/neck": 1.0, "grad_cos/fitnet/neck": 0.5,
     "grad_ratio/fitnet/heads": 0.0},
    {"iteration": 3, "grad_ratio/fitnet/neck": 3.0},  # a resumed run wrote iteration 3 again
    {"bbox/AP": 1.0},
]


def test_diagnostics_series_and_summary_medians():
    ratios = plot_diagnostics.diagnostics_series(DIAG_RECORDS, "grad_ratio")
    assert ratios[("fitnet", "neck")] == ([1, 3, 5], [4.0, 3.0, 1.0])
    assert plot_diagnostics.diagnostics_series(DIAG_RECORDS, "grad_norm") == {("detection", "neck"): ([1], [2.0])}
    table = plot_diagnostics.summary_table(DIAG_RECORDS)
    assert "| fitnet | neck | 3 | +0.100 | 3 |" in table  # medians of (4, 3, 1) and (0.1, -0.3, 0.5)
    assert "| fitnet | heads | 0 | (zero gradient) | 3 |" in table
    with pytest.raises(ValueError, match="distill_diagnostics_period"):
        plot_diagnostics.summary_table([{"iteration": 0, "total_loss": 1.0}])


def test_plot_diagnostics_cli_writes_a_png(tmp_path):
    metrics = tmp_path / "run" / "metrics.json"
    metrics.parent.mkdir()
    metrics.write_text("\n".join(json.dumps(r) for r in DIAG_RECORDS) + "\n")
    path = plot_diagnostics.main([str(metrics)])
    assert path == str(tmp_path / "run" / "diagnostics.png")
    _png(path)
