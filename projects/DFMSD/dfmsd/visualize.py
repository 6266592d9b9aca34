"""Pictures of DFMSD's decisions, as PNG files (paper figures 5-7).

- ``me_<k>.png`` (figures 6-7): for one training image through
  :class:`dfmsd.MaskingEnhancementMapper`, the normal view with the candidate
  boxes, ``Area(x)`` and the chosen operation, the enhanced view with its
  ground truth, and the log-amplitude Fourier spectra of both (fft-shifted:
  low frequencies in the centre) with their difference.
- ``attention_<k>.png`` (figure 5): the input image (the view the teacher sees),
  then for one FPN level of the teacher its feature, the spatial attention A^s
  (eq. 3), the spatial keep-mask, the channel attention A^c (eq. 2) per channel
  with the hidden channels marked, as :class:`d2kd.losses.AttentionGuidedMask`
  computes them.

Student feature maps after each SAL stage (figure 4) are drawn by
``tools/visualize_features.py`` (one ``--student`` per stage checkpoint).

Command line (images of the config's training set, through the last stage's
mapper; the teacher is the last stage's, or ``--stage``)::

    python -m dfmsd.visualize --config-file projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_retinanet.py \\
        --count 4 --level p3 --output-dir output/DFMSD/pictures

Trailing ``key=value`` overrides are those of the training tool, dataset
declarations included: on one's own COCO data, pass the run's own
``+datasets.<name>=[<json>,<images>]`` and ``dataloader.train.dataset.names=<name>``
(and its teachers' weights and box cache).
"""
import argparse
import functools
import os
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from d2kd.losses import AttentionGuidedMask  # noqa: E402

__all__ = ["amplitude_spectrum", "render_enhancement", "attention_figure", "render_attention", "main"]


def amplitude_spectrum(image) -> np.ndarray:
    """``log(1 + |fftshift(FFT2(gray))|)`` of an image, (H, W).

    Args:
        image: (3, H, W) tensor or (H, W, 3) / (H, W) array on any scale; the
            colour channels are averaged into one gray channel first.
    """
    x = image.detach().cpu().float().numpy() if torch.is_tensor(image) else np.asarray(image, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=0) if x.shape[0] == 3 and x.shape[-1] != 3 else x.mean(axis=-1)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(x))))


def _to_rgb(image) -> np.ndarray:
    """(3, H, W) BGR tensor on 0-255 -> (H, W, 3) RGB uint8 for imshow."""
    x = image.detach().cpu().float().clamp(0, 255).numpy().transpose(1, 2, 0)
    return x[:, :, ::-1].astype(np.uint8)


def _draw_boxes(ax, boxes, color):
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=float).reshape(-1, 4):
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1))


def _clean(ax, title):
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, output: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return output


def render_enhancement(mapped: dict, candidate_boxes, output: str, area_threshold: float) -> str:
    """Draw one ME decision (paper figures 6-7) into the PNG ``output``.

    Args:
        mapped: an output dict of :class:`dfmsd.MaskingEnhancementMapper`.
        candidate_boxes: (K, 4) XYXY boxes that gave Area(x), in the normal
            view's pixels.
        area_threshold: lambda, for the title.
    """
    decision = mapped["enhancement"]
    before, after = amplitude_spectrum(mapped["image"]), amplitude_spectrum(mapped["enhanced_image"])
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.6))
    axes[0].imshow(_to_rgb(mapped["image"]))
    _draw_boxes(axes[0], candidate_boxes, "yellow")
    relation = ">=" if decision["area"] >= area_threshold else "<"
    _clean(axes[0], f"candidates: Area={decision['area']:.2f} {relation} {area_threshold} -> {decision['op']}")
    axes[1].imshow(_to_rgb(mapped["enhanced_image"]))
    if "enhanced_instances" in mapped:
        _draw_boxes(axes[1], mapped["enhanced_instances"].gt_boxes.tensor.numpy(), "lime")
    _clean(axes[1], f"enhanced view ({decision['op']}), ground truth")
    vmin, vmax = min(before.min(), after.min()), max(before.max(), after.max())
    axes[2].imshow(before, cmap="magma", vmin=vmin, vmax=vmax)
    _clean(axes[2], "log |FFT| before")
    axes[3].imshow(after, cmap="magma", vmin=vmin, vmax=vmax)
    _clean(axes[3], "log |FFT| after")
    diff = after - before
    bound = max(abs(diff.min()), abs(diff.max()), 1e-6)
    axes[4].imshow(diff, cmap="coolwarm", vmin=-bound, vmax=bound)
    _clean(axes[4], "after - before (centre = low frequencies)")
    return _save(fig, output)


def attention_figure(
    teacher_feature: torch.Tensor,
    spatial_ratio: float = 0.5,
    channel_ratio: float = 0.5,
    tau: float = 1.0,
    title: str = "",
    image: Optional[torch.Tensor] = None,
):
    """The figure of :func:`render_attention`: the input ``image`` when given, then the
    teacher feature, A^s, the spatial keep-mask and A^c (one panel each)."""
    t = teacher_feature if teacher_feature.dim() == 4 else teacher_feature[None]
    t = t.detach().float().cpu()
    spatial = AttentionGuidedMask(spatial_ratio, dim="spatial", tau=tau)
    channel = AttentionGuidedMask(channel_ratio, dim="channel", tau=tau)
    a_s, keep_s = spatial.attention(t)[0, 0].numpy(), spatial(t)[0, 0].numpy()
    a_c, keep_c = channel.attention(t)[0, :, 0, 0].numpy(), channel(t)[0, :, 0, 0].numpy()
    fig, axes = plt.subplots(1, 4 + (image is not None), figsize=(3.75 * (4 + (image is not None)), 3.4))
    if image is not None:
        axes[0].imshow(_to_rgb(image))
        _clean(axes[0], f"input image {tuple(image.shape[-2:])}")
        axes = axes[1:]
    axes[0].imshow(t[0].abs().mean(0).numpy(), cmap="viridis")
    _clean(axes[0], f"{title} teacher feature (mean |x|)".strip())
    axes[1].imshow(a_s, cmap="inferno")
    _clean(axes[1], "spatial attention A^s")
    axes[2].imshow(keep_s, cmap="gray", vmin=0, vmax=1)
    _clean(axes[2], f"spatial keep-mask (hides {spatial_ratio:.0%}, black)")
    colors = ["tab:red" if k == 0 else "tab:blue" for k in keep_c]
    axes[3].bar(np.arange(len(a_c)), a_c, color=colors, width=1.0)
    axes[3].set_title(f"channel attention A^c (red: hidden, {channel_ratio:.0%})", fontsize=9)
    axes[3].set_xlabel("channel", fontsize=8)
    return fig


def render_attention(
    teacher_feature: torch.Tensor,
    output: str,
    spatial_ratio: float = 0.5,
    channel_ratio: float = 0.5,
    tau: float = 1.0,
    title: str = "",
    image: Optional[torch.Tensor] = None,
) -> str:
    """Draw a teacher level's attention and DMKD masks (paper figure 5) into ``output``.

    Args:
        teacher_feature: (C, H, W) or (1, C, H, W) teacher feature of one image.
        spatial_ratio, channel_ratio, tau: the masking settings (lambda_s, lambda_c, tau).
        image: the input the feature was computed from, (3, H, W) BGR on 0-255 (a mapper's
            ``"image"``): drawn first, beside the feature and its attention.
    """
    figure = attention_figure(teacher_feature, spatial_ratio, channel_ratio, tau, title, image=image)
    return _save(figure, output)


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--stage", type=int, default=None, help="1-based stage for the teacher (default: last)")
    parser.add_argument("--index", type=int, default=0, help="first training image")
    parser.add_argument("--count", type=int, default=4, help="number of images")
    parser.add_argument("--level", default="p3", help="student level name for the attention picture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="output/DFMSD/pictures")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="key=value config overrides")
    return parser.parse_args(argv)


def _picture_config(args):
    """The config of the stage whose mapper and teacher are drawn (the last, or ``--stage``),
    loaded as the training tool loads it: the overrides, and the datasets they declare
    (``+datasets.<name>=[<json>,<images>]``); and how the user spells its keys."""
    from d2kd.config import load_tool_config
    from d2kd.config.stages import stage_config, stage_key

    cfg = load_tool_config(args.config_file, args.opts)
    if "stages" not in cfg:
        return cfg, None
    index = (len(cfg.stages) if args.stage is None else args.stage) - 1
    return stage_config(cfg, index), functools.partial(stage_key, cfg, index)


def _test_view_mapper(cfg, seed: int):
    """The stage's train mapper (a :class:`dfmsd.MaskingEnhancementMapper`) at the test-time
    resize, without random flip, so that the candidate boxes can be drawn on the view."""
    from detectron2.config import instantiate
    from dfmsd import MaskingEnhancementMapper

    mapper_cfg = cfg.dataloader.train.mapper
    mapper_cfg.seed = seed
    mapper_cfg.augmentations = cfg.dataloader.test.mapper.augmentations
    mapper = instantiate(mapper_cfg)
    if not isinstance(mapper, MaskingEnhancementMapper):
        raise SystemExit("The (last) stage's train mapper is not a MaskingEnhancementMapper; pick --stage.")
    return mapper


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Write ``me_<k>.png`` and ``attention_<k>.png`` for ``--count`` training images."""
    from d2kd.engine.build import build_model
    from detectron2.data import DatasetCatalog

    args = _parse(argv)
    cfg, name_key = _picture_config(args)
    mapper = _test_view_mapper(cfg, args.seed)
    model = build_model(cfg.model, name_key=name_key).eval()
    teacher_name, pairs = next(iter(model._pairs.items()))
    if args.level not in pairs:
        raise SystemExit(f"--level {args.level!r} is not distilled; choose one of {sorted(pairs)}")
    teacher = model.teachers[teacher_name]
    loss = model.distill_losses[0]
    names = cfg.dataloader.train.dataset.names
    records = [r for name in ([names] if isinstance(names, str) else names) for r in DatasetCatalog.get(name)]
    written = []
    for k, record in enumerate(records[args.index : args.index + args.count]):
        mapped = mapper(dict(record))
        scale = np.array([mapped["image"].shape[2] / record["width"], mapped["image"].shape[1] / record["height"]] * 2)
        boxes = mapper.candidate_boxes(record) * scale  # original pixels -> the view's
        written.append(
            render_enhancement(mapped, boxes, os.path.join(args.output_dir, f"me_{k}.png"), mapper.enhancement.area_threshold)
        )
        with torch.no_grad():
            feature = teacher.features([mapped], getattr(model.student, "input_format", "BGR"))[pairs[args.level]]
        written.append(
            render_attention(
                feature,
                os.path.join(args.output_dir, f"attention_{k}.png"),
                spatial_ratio=loss.masks["spatial"].ratio if "spatial" in loss.masks else 0.5,
                channel_ratio=loss.masks["channel"].ratio if "channel" in loss.masks else 0.5,
                tau=next(iter(loss.masks.values())).tau,
                title=f"{args.level}",
                image=mapped["image"],
            )
        )
    return written


def cli(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m dfmsd.visualize``: the written paths, or the config error and its fix."""
    from d2kd.config import ConfigError

    try:
        paths = main(argv)
    except ConfigError as e:
        raise SystemExit(f"Config error: {e}") from e
    except ValueError as e:  # a box cache that is missing or made for other data, a bad setting
        raise SystemExit(f"Error: {e}") from e
    for path in paths:
        print(path)


if __name__ == "__main__":
    cli()
