#!/usr/bin/env python
"""Render what distillation does to the features, for one image, as PNG files.

``features.png``: the input image (as the models see it, after the test
mapper's resize) at the left, then one row per model (each teacher of the
config, then each ``--student``), one column per FPN level; each panel is the
feature map of that level reduced over channels (``--reduce mean``, the
default, or ``abs``: mean absolute value), cropped to the image (no padding),
on its own min-max colour scale. Teacher levels are matched to student levels
by stride, as the distillation core pairs them.

``frequency_mask.png`` (``--frequency-mask``, MKD's L_FDMD): for one level
(``--mask-level``) of one student (``--mask-student``; default the first),
the input image, the feature, its spectrum log|FFT2| (fft-shifted, low
frequencies in the centre), the random keep-mask M of
:func:`d2kd.losses.functional.frequency_mask` (shifted the same way), the
masked spectrum log|M * FFT2|, and the masked feature Re(IFFT2(M * FFT2)).

Models come from a distillation config (``model.student`` and
``model.teachers``); teachers load the weights the config names, students
the checkpoints given (a plain student's or a distillation run's
``model_final.pth``)::

    python tools/visualize_features.py \\
        --config-file projects/MKD/configs/Shapes/mkd_R50_to_R18_retinanet.py \\
        --student student=output/Shapes/retinanet_R18_FPN/model_final.pth \\
        --student "MKD student=output/MKD/mkd_R50_to_R18_retinanet/model_final.pth" \\
        --frequency-mask --output-dir output/MKD/pictures

The image is ``--image PATH`` or image ``--index`` of ``--dataset`` (default:
the config's test set), resized by the config's test mapper. Trailing
``key=value`` pairs override the config (e.g. ``model.teachers.weights=...``).
"""
import argparse
import math
import os
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from d2kd.losses import functional as LF  # noqa: E402

REDUCTIONS = ("mean", "abs")


# ---------------------------------------------------------------- rendering


def reduce_channels(feature: torch.Tensor, reduce: str = "mean") -> np.ndarray:
    """(C, H, W) feature -> (H, W) float array: channel mean, or mean of |x|."""
    if feature.dim() != 3:
        raise ValueError(f"expected a (C, H, W) feature, got shape {tuple(feature.shape)}")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    x = feature.detach().float().cpu()
    return (x.abs() if reduce == "abs" else x).mean(dim=0).numpy()


def _show(ax, image: np.ndarray, title: str, cmap: str = "viridis") -> None:
    ax.imshow(image, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def input_rgb(inputs: dict, data_format: str = "BGR") -> np.ndarray:
    """The image of a detectron2 input dict, (3, H, W) in ``data_format`` on 0-255, as an
    (H, W, 3) RGB uint8 array for a picture."""
    x = inputs["image"].detach().cpu().float().clamp(0, 255)
    if data_format == "BGR":
        x = x.flip(0)
    return x.permute(1, 2, 0).numpy().astype(np.uint8)


def _show_input(ax, image: np.ndarray) -> None:
    ax.imshow(image)
    ax.set_title(f"input image\n{tuple(image.shape[:2])}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def feature_grid_figure(
    rows: Mapping[str, Mapping[str, Optional[torch.Tensor]]],
    reduce: str = "mean",
    title: str = "",
    image: Optional[np.ndarray] = None,
):
    """The figure of :func:`render_feature_grid`: a panel per model and level, after the
    input ``image`` (an (H, W, 3) RGB array, :func:`input_rgb`) when given, in a first
    column of its own that spans the rows."""
    if not rows:
        raise ValueError("render_feature_grid needs at least one row")
    columns = list(next(iter(rows.values())).keys())
    if not columns or any(list(r.keys()) != columns for r in rows.values()):
        raise ValueError("every row needs the same, non-empty, list of levels")
    first = 0 if image is None else 1  # the column of the first level
    fig = plt.figure(figsize=(2.6 * (len(columns) + first), 2.6 * len(rows) + 0.4))
    grid = fig.add_gridspec(len(rows), len(columns) + first)
    if image is not None:
        _show_input(fig.add_subplot(grid[:, 0]), image)
    for i, (label, features) in enumerate(rows.items()):
        for j, (level, feature) in enumerate(features.items()):
            ax = fig.add_subplot(grid[i, first + j])
            if feature is None:
                ax.axis("off")
                ax.set_title(f"{label}\n{level}: n/a", fontsize=9)
                continue
            _show(ax, reduce_channels(feature, reduce), f"{label}\n{level} {tuple(feature.shape[-2:])}")
    fig.suptitle(title or f"FPN features, channel {reduce}, per-panel min-max")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
    return fig


def render_feature_grid(
    rows: Mapping[str, Mapping[str, Optional[torch.Tensor]]],
    output: str,
    reduce: str = "mean",
    title: str = "",
    image: Optional[np.ndarray] = None,
) -> str:
    """Draw a grid of channel-reduced feature maps into the PNG ``output``.

    Args:
        rows: row label (a model) -> column label (a level) -> (C, H, W) feature,
            or ``None`` for a level the model does not have (left blank). Every
            row must have the same column labels, in the same order.
        reduce: ``"mean"`` or ``"abs"``, see :func:`reduce_channels`.
        image: the input image, (H, W, 3) RGB (:func:`input_rgb`), drawn at the left.

    Returns:
        ``output``.
    """
    return _save(feature_grid_figure(rows, reduce, title, image), output)


def draw_keep_mask(shape: Sequence[int], zeta: float, seed: int) -> torch.Tensor:
    """The {0, 1} mask M that ``frequency_mask(x, zeta, generator=Generator().manual_seed(seed))``
    applies to a CPU tensor ``x`` of ``shape`` (N, C, H, W): (N, 1, H, W), 0 where U(0,1) < zeta."""
    n, _, h, w = shape
    u = torch.rand((n, 1, h, w), generator=torch.Generator().manual_seed(seed))
    return (u >= zeta).float()


def frequency_mask_panels(
    feature: torch.Tensor, zeta: float, seed: int = 0
) -> Dict[str, np.ndarray]:
    """The pictures of :func:`render_frequency_mask` for one (1, C, H, W) feature.

    Returns (H, W) arrays: ``feature`` (channel mean), ``spectrum`` and
    ``masked spectrum`` (channel mean of log(1 + |FFT2|), fft-shifted), ``mask``
    (fft-shifted M) and ``masked feature`` (channel mean of
    ``frequency_mask(feature, zeta)`` with the same M).
    """
    if feature.dim() != 4 or feature.shape[0] != 1:
        raise ValueError(f"expected a (1, C, H, W) feature, got shape {tuple(feature.shape)}")
    x = feature.detach().float().cpu()
    masked = LF.frequency_mask(x, zeta, generator=torch.Generator().manual_seed(seed))
    keep = draw_keep_mask(x.shape, zeta, seed)
    spectrum = torch.fft.fft2(x, dim=(-2, -1))
    expected = torch.fft.ifft2(spectrum * keep, dim=(-2, -1)).real
    if not torch.allclose(masked, expected, atol=1e-4 * (1 + float(x.abs().max()))):
        raise RuntimeError(
            "draw_keep_mask no longer reproduces the mask of d2kd.losses.functional.frequency_mask; "
            "update it to the function's random draw"
        )

    def _log_magnitude(z: torch.Tensor) -> np.ndarray:
        shifted = torch.fft.fftshift(z, dim=(-2, -1))
        return torch.log1p(shifted.abs())[0].mean(dim=0).numpy()

    return {
        "feature": x[0].mean(dim=0).numpy(),
        "spectrum": _log_magnitude(spectrum),
        "mask": torch.fft.fftshift(keep, dim=(-2, -1))[0, 0].numpy(),
        "masked spectrum": _log_magnitude(spectrum * keep),
        "masked feature": masked[0].mean(dim=0).numpy(),
    }


def render_frequency_mask(
    feature: torch.Tensor, zeta: float, output: str, seed: int = 0, title: str = "",
    image: Optional[np.ndarray] = None,
) -> str:
    """Draw a (1, C, H, W) feature before and after MKD's frequency mask into ``output``,
    after the input ``image`` ((H, W, 3) RGB, :func:`input_rgb`) when given."""
    panels = frequency_mask_panels(feature, zeta, seed)
    kept = float(panels["mask"].mean())
    first = 0 if image is None else 1
    width = round(2.8 * (len(panels) + first), 6)  # 2.8 x 6 is 16.799..., which saves as 1679 px
    fig, axes = plt.subplots(1, len(panels) + first, figsize=(width, 3.5), squeeze=False)
    if image is not None:
        _show_input(axes[0][0], image)
    captions = {
        "feature": "student feature\n(channel mean)",
        "spectrum": "log |FFT2|\n(shifted)",
        "mask": f"mask M, zeta={zeta:g}\nkept {kept:.0%} (shifted)",
        "masked spectrum": "log |M * FFT2|\n(shifted)",
        "masked feature": "Re(IFFT2(M * FFT2))\n(channel mean)",
    }
    for ax, (name, panel) in zip(axes[0][first:], panels.items()):
        _show(ax, panel, captions[name], cmap="gray" if name == "mask" else "viridis")
    fig.suptitle(title or "MKD frequency-domain mask (L_FDMD, eq. 2-3)")
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # room for the suptitle
    return _save(fig, output)


def _save(fig, output: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


# ------------------------------------------------------------ models and data


def build_teachers(model_cfg) -> Dict[str, torch.nn.Module]:
    """name -> :class:`~d2kd.modeling.teacher.Teacher` from a DistillationDetector config node
    (its teachers: :func:`~d2kd.config.teachers.iter_teachers`; the one teacher of
    ``teachers=L(Teacher)(...)`` is ``teacher``)."""
    from d2kd.config.teachers import iter_teachers
    from detectron2.config import instantiate

    return {name or "teacher": instantiate(node) for _, name, node in iter_teachers(model_cfg)}


def build_student(model_cfg, weights: str) -> torch.nn.Module:
    """``model.student`` of the config with ``weights`` (a plain or a distillation checkpoint)."""
    from d2kd.modeling.checkpoint import load_weights_strictly
    from detectron2.config import instantiate

    student = instantiate(model_cfg.student)
    load_weights_strictly(student, weights)
    return student.eval()


def load_input(cfg, image: Optional[str] = None, dataset: Optional[str] = None, index: int = 0) -> dict:
    """One detectron2 input dict, read and resized by the config's test mapper."""
    from detectron2.config import instantiate
    from detectron2.data import DatasetCatalog

    if image is None:
        names = dataset or cfg.dataloader.test.dataset.names
        name = names if isinstance(names, str) else list(names)[0]
        dicts = DatasetCatalog.get(name)
        if not 0 <= index < len(dicts):
            raise ValueError(f"--index {index} is outside dataset {name!r} ({len(dicts)} images)")
        record = dicts[index]
    else:
        if not os.path.isfile(image):
            raise FileNotFoundError(f"--image {image} does not exist")
        record = {"file_name": image}
    return instantiate(cfg.dataloader.test.mapper)(dict(record))


def _valid_crop(feature: torch.Tensor, image_size: Tuple[int, int], stride: int) -> torch.Tensor:
    h, w = (math.ceil(s / stride) for s in image_size)
    return feature[..., :h, :w]


@torch.no_grad()
def model_features(
    model: torch.nn.Module, inputs: dict, data_format: str
) -> Dict[int, Tuple[str, torch.Tensor]]:
    """stride -> (level name, (C, H, W) feature cropped to the image) of a detector or Teacher."""
    from d2kd.modeling.teacher import Teacher

    if isinstance(model, Teacher):
        features = model.features([inputs], data_format)
        shapes = model.output_shape()
    else:
        features = model.backbone(model.preprocess_image([inputs]).tensor)
        shapes = model.backbone.output_shape()
    size = tuple(inputs["image"].shape[-2:])
    return {
        shapes[name].stride: (name, _valid_crop(value[0], size, shapes[name].stride))
        for name, value in features.items()
    }


def _default_levels(model_cfg) -> Optional[List[str]]:
    losses = model_cfg.get("distill_losses", None) or []
    return list(losses[0].in_features) if len(losses) and "in_features" in losses[0] else None


def _default_zeta(model_cfg) -> float:
    for loss in model_cfg.get("distill_losses", None) or []:
        if "zeta" in loss:
            return float(loss.zeta)
    return 0.5


def _parse_student(text: str) -> Tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"--student takes LABEL=PATH, got {text!r}")
    return label, path


def main(argv=None) -> List[str]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, help="a distillation lazy config")
    parser.add_argument(
        "--student",
        action="append",
        type=_parse_student,
        required=True,
        metavar="LABEL=PATH",
        help="a student checkpoint to show (repeat: plain student, distilled student, ...)",
    )
    parser.add_argument("--image", default=None, help="an image file (default: a dataset image)")
    parser.add_argument("--dataset", default=None, help="dataset name (default: the config's test set)")
    parser.add_argument("--index", type=int, default=0, help="image index in --dataset")
    parser.add_argument("--levels", nargs="+", default=None, help="student levels (default: the distilled ones)")
    parser.add_argument("--reduce", choices=REDUCTIONS, default="mean")
    parser.add_argument("--frequency-mask", action="store_true", help="also draw frequency_mask.png (MKD)")
    parser.add_argument("--zeta", type=float, default=None, help="mask ratio (default: the config's)")
    parser.add_argument("--mask-level", default=None, help="level of the mask picture (default: first)")
    parser.add_argument(
        "--mask-student", default=None, help="LABEL of the student of the mask picture (default: first)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random mask")
    parser.add_argument("--output-dir", default="output/pictures")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)

    from d2kd.config import load_tool_config

    cfg = load_tool_config(args.config_file, args.opts)
    teachers = build_teachers(cfg.model)
    students = {label: build_student(cfg.model, path) for label, path in args.student}
    inputs = load_input(cfg, args.image, args.dataset, args.index)
    data_format = next(iter(students.values())).input_format

    first = model_features(next(iter(students.values())), inputs, data_format)
    by_name = {name: stride for stride, (name, _) in first.items()}
    levels = args.levels or _default_levels(cfg.model) or list(by_name)
    unknown = [lvl for lvl in levels if lvl not in by_name]
    if unknown:
        raise ValueError(f"levels {unknown} are not student levels {sorted(by_name)}")

    rows: Dict[str, Dict[str, Optional[torch.Tensor]]] = {}
    student_features = {}
    for label, model in list(teachers.items()) + list(students.items()):
        feats = model_features(model, inputs, data_format)
        if label in students:
            student_features[label] = feats
        rows[label] = {
            f"{lvl} (stride {by_name[lvl]})": feats.get(by_name[lvl], (None, None))[1] for lvl in levels
        }
    image = input_rgb(inputs, data_format)
    written = [
        render_feature_grid(rows, os.path.join(args.output_dir, "features.png"), reduce=args.reduce, image=image)
    ]
    if args.frequency_mask:
        label = args.mask_student or next(iter(students))
        if label not in students:
            raise ValueError(f"--mask-student {label!r} is not one of the --student labels {list(students)}")
        level = args.mask_level or levels[0]
        if level not in by_name:
            raise ValueError(f"--mask-level {level!r} is not a student level {sorted(by_name)}")
        feature = student_features[label][by_name[level]][1][None]
        zeta = args.zeta if args.zeta is not None else _default_zeta(cfg.model)
        written.append(
            render_frequency_mask(
                feature,
                zeta,
                os.path.join(args.output_dir, "frequency_mask.png"),
                seed=args.seed,
                title=f"{label}, {level}: MKD frequency-domain mask (L_FDMD)",
                image=image,
            )
        )
    for path in written:
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"visualize_features: {e}")
