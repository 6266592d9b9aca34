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


def _per_level_records(terms=("spatial", "channel", "sfa"), levels=("p2", "p3", "p4", "p5")):
    """Two iterations of a run with len(terms) x len(levels) distillation keys (12 by default)."""
    return [{"iteration": it, "total_loss": 1.0,
             **{f"loss_dfmsd_{t}_{lvl}": 0.1 * (i + 1) + it for i, (t, lvl) in
                enumerate((t, lvl) for t in terms for lvl in levels)}} for it in (0, 1)]


def test_every_curve_of_a_per_level_loss_plot_has_its_own_colour():
    import matplotlib.pyplot as plt

    _, per_level = plot_losses.loss_series(_per_level_records(), per_level=True)
    assert len(per_level) == 12
    fig = plot_losses.loss_figure({"total_loss": ([0, 1], [1.0, 1.0])}, per_level)
    lines = fig.axes[1].get_lines()
    assert [line.get_label() for line in lines] == list(per_level)
    assert len({line.get_color() for line in lines}) == 12
    plt.close(fig)
    # matplotlib's default cycle, which the plot used before, repeats after 10 curves
    assert len({c["color"] for c, _ in zip(plt.rcParams["axes.prop_cycle"], range(12))}) == 10
    for n in (1, 10, 12, 20, 25, 60, 75):
        assert len(set(plot_losses.distinct_colors(n))) == n


def test_diagnostics_curves_have_distinct_colours_shared_by_both_panels():
    import matplotlib.pyplot as plt

    records = [{"iteration": it, **{f"grad_{kind}/{term}/{part}": 0.5 + it for kind in ("ratio", "cos")
                                    for term in ("fitnet", "pkd", "mgd", "cwd") for part in ("backbone", "neck", "heads")}}
               for it in (1, 2)]
    fig = plot_diagnostics.diagnostics_figure(records)
    left, right = fig.axes[:2]
    colours = {line.get_label(): line.get_color() for line in left.get_lines() if line.get_label()[0] != "_"}
    assert len(colours) == 12 and len(set(colours.values())) == 12
    assert all(colours[line.get_label()] == line.get_color() for line in right.get_lines()
               if line.get_label() in colours)
    plt.close(fig)


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
    image = np.zeros((80, 96, 3), dtype=np.uint8)
    path = visualize.render_frequency_mask(x, 0.5, str(tmp_path / "fm_image.png"), seed=0, image=image)
    assert _png(path) == (1680, 350)  # the input image first: 6 panels


def test_input_rgb_turns_a_bgr_input_into_an_rgb_picture():
    bgr = torch.zeros(3, 4, 5)
    bgr[0] = 255.0  # blue in BGR
    bgr[2, 0, 0] = 300.0  # out of range: clipped
    rgb = visualize.input_rgb({"image": bgr}, "BGR")
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 2] == 255).all() and rgb[0, 0, 0] == 255 and rgb[1, 1, 0] == 0
    assert (visualize.input_rgb({"image": bgr}, "RGB")[..., 0] == 255).all()


def test_feature_grid_shows_the_input_image_beside_the_features(tmp_path):
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    rows = {
        "teacher": {"p3": torch.randn(8, 12, 16, generator=g), "p4": torch.randn(8, 6, 8, generator=g)},
        "student": {"p3": torch.randn(4, 12, 16, generator=g), "p4": None},
    }
    image = (np.arange(96 * 128 * 3) % 251).astype(np.uint8).reshape(96, 128, 3)
    fig = visualize.feature_grid_figure(rows, image=image)
    panels = fig.axes
    assert len(panels) == 1 + 2 * 2  # the input image, then 2 models x 2 levels
    shown = panels[0].get_images()[0].get_array()
    assert shown.shape == (96, 128, 3) and np.array_equal(np.asarray(shown), image)
    # its column spans both rows, left of every feature panel
    spec = panels[0].get_subplotspec()
    assert (spec.rowspan, spec.colspan) == (range(0, 2), range(0, 1))
    assert [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in panels[1:]] == [
        (0, 1), (0, 2), (1, 1), (1, 2)]
    plt.close(fig)
    path = visualize.render_feature_grid(rows, str(tmp_path / "grid.png"), image=image)
    assert _png(path) == (780, 560)  # one column more than without the image


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
