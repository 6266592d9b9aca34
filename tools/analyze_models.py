#!/usr/bin/env python
"""Parameters, FLOPs and feature maps of every model in configs/common/models,
written as a Markdown report (docs/MODELS.md by default).

    python tools/analyze_models.py [--size 192] [--output docs/MODELS.md] [--train-time]

Counts come from fvcore on the CPU with random weights:
- parameters: ``fvcore.nn.parameter_count`` (all parameters, frozen included);
- FLOPs: ``fvcore.nn.FlopCountAnalysis`` at one ``size x size`` image, fvcore's
  convention (one multiply-add = one FLOP), traced part by part so that the
  count does not depend on the (random) weights: "backbone" is bottom-up + FPN;
  "heads" the dense head (RetinaNet head or RPN head) on every level, plus for
  R-CNNs the box branch on the test-time proposal count (``post_nms_topk[1]``)
  and the mask branch on ``test_detections_per_img`` boxes, i.e. the most a
  test image costs. Box decoding, NMS and ROIAlign are not counted (fvcore has
  no FLOP formula for them; they are small).
- ``--train-time``: seconds per training iteration (forward + backward) at a
  batch of ``--batch`` synthetic ``size x size`` images with three boxes each,
  median of ``--iters`` iterations after one warm-up, on this machine's CPU.
"""
import argparse
import ast
import glob
import logging
import os
import platform
import statistics
import sys
import time

import torch
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIGS = os.path.join("configs", "common", "models", "*.py")


class _DenseHead(nn.Module):
    """RetinaNet head or RPN head on a tuple of FPN maps (traceable)."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, *features):
        return self.head(list(features))


class _BoxBranch(nn.Module):
    """ROI pooling + head (+ box predictor) on K fixed boxes of one image.

    forward(*features, boxes (K, 4)) -> head outputs for the K boxes.
    """

    def __init__(self, pooler, head, predictor=None):
        super().__init__()
        self.pooler, self.head, self.predictor = pooler, head, predictor

    def forward(self, *inputs):
        from detectron2.structures import Boxes

        features, boxes = list(inputs[:-1]), inputs[-1]
        x = self.pooler(features, [Boxes(boxes)])
        x = self.head.layers(x) if hasattr(self.head, "layers") else self.head(x)
        return self.predictor(x) if self.predictor is not None else x


class _TupleOutput(nn.Module):
    """A backbone whose dict output is returned as a tuple (traceable)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return tuple(self.backbone(x).values())


def _flops(module, inputs):
    from fvcore.nn import FlopCountAnalysis

    with torch.no_grad():
        analysis = FlopCountAnalysis(module, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return analysis.total()


def _fixed_boxes(count, size):
    """``count`` boxes (count, 4) of sizes size/16 .. size/2 spread over the image,
    so that ROI pooling uses every FPN level."""
    generator = torch.Generator().manual_seed(0)
    sides = size / 16 * 2 ** (3 * torch.rand(count, generator=generator))
    centers = torch.rand(count, 2, generator=generator) * size
    boxes = torch.cat([centers - sides[:, None] / 2, centers + sides[:, None] / 2], dim=1)
    return boxes.clamp(0, size)


def _model_flops(model, normalized):
    """FLOPs of a detectron2 meta-arch, part by part, independent of its weights.

    backbone: on ``normalized`` (1, 3, H, W). heads: the dense head (RetinaNet,
    RPN) on all FPN levels, plus for R-CNNs the box branch on the test-time
    proposal count and the mask branch on ``test_detections_per_img`` boxes.
    Returns (backbone, heads, note).
    """
    features = model.backbone(normalized)
    backbone = _flops(_TupleOutput(model.backbone), (normalized,))
    size = normalized.shape[-1]
    if hasattr(model, "head"):  # RetinaNet
        maps = tuple(features[f] for f in model.head_in_features)
        return backbone, _flops(_DenseHead(model.head), maps), "dense head on all levels"

    rpn, roi = model.proposal_generator, model.roi_heads
    heads = _flops(_DenseHead(rpn.rpn_head), tuple(features[f] for f in rpn.in_features))
    num_proposals = rpn.post_nms_topk[False]
    maps = tuple(features[f] for f in roi.box_in_features)
    branch = _BoxBranch(roi.box_pooler, roi.box_head, roi.box_predictor)
    heads += _flops(branch, maps + (_fixed_boxes(num_proposals, size),))
    note = f"box head on {num_proposals} proposals"
    if getattr(roi, "mask_on", False):
        num_detections = roi.box_predictor.test_topk_per_image
        maps = tuple(features[f] for f in roi.mask_in_features)
        branch = _BoxBranch(roi.mask_pooler, roi.mask_head)
        heads += _flops(branch, maps + (_fixed_boxes(num_detections, size),))
        note += f", mask head on {num_detections} detections"
    return backbone, heads, note


def _synthetic_batch(batch, size):
    from detectron2.structures import BitMasks, Boxes, Instances

    generator = torch.Generator().manual_seed(0)
    inputs = []
    for _ in range(batch):
        boxes = size * torch.tensor(
            [[0.10, 0.10, 0.30, 0.35], [0.40, 0.20, 0.90, 0.60], [0.05, 0.60, 0.50, 0.95]]
        )
        masks = torch.zeros(len(boxes), size, size, dtype=torch.bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes.round().int().tolist()):
            masks[i, y0:y1, x0:x1] = True
        instances = Instances((size, size))
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = torch.tensor([0, 1, 2])
        instances.gt_masks = BitMasks(masks)
        image = torch.rand(3, size, size, generator=generator) * 255
        inputs.append({"image": image, "instances": instances})
    return inputs


def _train_seconds(model, batch, size, iters):
    from detectron2.utils.events import EventStorage

    inputs = _synthetic_batch(batch, size)
    model.train()
    times = []
    with EventStorage():
        for i in range(iters + 1):
            start = time.perf_counter()
            losses = model(inputs)
            sum(losses.values()).backward()
            model.zero_grad(set_to_none=True)
            if i:  # the first iteration warms up allocators and caches
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def _total(row):
    if row["backbone_flops"] is None or row["head_flops"] is None:
        return None
    return row["backbone_flops"] + row["head_flops"]


def _shapes(shapes):
    return ", ".join(f"{n} {s.stride}/{s.channels}" for n, s in shapes.items())


def _millions(n):
    return f"{n / 1e6:.2f}"


def _giga(n):
    return "n/a" if n is None else f"{n / 1e9:.2f}"


def analyze_entry(node, size, train_time, batch, iters):
    """Instantiate one LazyCall node (meta-arch or backbone) and measure it."""
    from detectron2.config import instantiate
    from detectron2.modeling import Backbone
    from fvcore.nn import parameter_count

    module = instantiate(node).eval()
    row = {"params": parameter_count(module)[""], "notes": []}
    is_model = hasattr(module, "backbone") and not isinstance(module, Backbone)
    backbone = module.backbone if is_model else module
    row["kind"] = type(module).__name__
    row["bottom_up"] = type(getattr(backbone, "bottom_up", backbone)).__name__
    row["bottom_up_shapes"] = getattr(backbone, "bottom_up", backbone).output_shape()
    row["levels"] = backbone.output_shape()
    row["backbone_params"] = parameter_count(backbone)[""]

    image = torch.rand(3, size, size) * 255
    row["backbone_flops"] = row["head_flops"] = None
    try:
        with torch.no_grad():
            if is_model:
                normalized = ((image - module.pixel_mean) / module.pixel_std)[None]
                flops = _model_flops(module, normalized)
                row["backbone_flops"], row["head_flops"], row["head_note"] = flops
            else:
                row["backbone_flops"] = _flops(_TupleOutput(module), (image[None] / 255,))
    except Exception as e:  # report, do not hide, a tracer failure
        row["notes"].append(f"FLOP count failed: {type(e).__name__}: {e}")
    if is_model and train_time:
        row["train_s"] = _train_seconds(module, batch, size, iters)
    return row


_CONVENTIONS = """\
- **Params**: all parameters (fvcore `parameter_count`, frozen ones included), millions.
- **GFLOPs** at one {size}x{size} image, fvcore convention (1 multiply-add = 1 FLOP),
  counted part by part so that the numbers do not depend on the (random) weights.
  *backbone*: bottom-up + FPN. *heads*: the dense head (RetinaNet head or RPN head) on
  all levels, plus for R-CNNs the box branch on the test-time proposal count
  (`post_nms_topk[1]`) and the mask branch on `test_detections_per_img` boxes: the most
  one test image costs. Box decoding, NMS and ROIAlign are not counted (fvcore has no
  formula for them; they are small).
- **bottom-up** / **levels**: `name stride/channels` of the backbone features the FPN
  reads and of the FPN outputs the heads read."""


def _model_rows(models, train_time):
    header = (
        "| config | meta-arch | bottom-up | params (M) | backbone params (M) "
        "| GFLOPs backbone | GFLOPs heads | GFLOPs total | heads counted |"
    )
    sep = "|---|---|---|---:|---:|---:|---:|---:|---|"
    if train_time:
        header, sep = header + " train s/iter |", sep + "---:|"
    lines = [header, sep]
    for name, r in models:
        cells = [
            f"`{name}`", r["kind"], r["bottom_up"], _millions(r["params"]),
            _millions(r["backbone_params"]), _giga(r["backbone_flops"]),
            _giga(r["head_flops"]), _giga(_total(r)), r.get("head_note", ""),
        ]
        if train_time:
            cells.append(f"{r['train_s']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "### Feature maps", ""]
    lines += ["| config | bottom-up (stride/channels) | levels (stride/channels) |"]
    lines += ["|---|---|---|"]
    for name, r in models:
        lines.append(f"| `{name}` | {_shapes(r['bottom_up_shapes'])} | {_shapes(r['levels'])} |")
    return lines


def _backbone_rows(backbones):
    lines = [
        "| name | bottom-up | params (M) | GFLOPs | bottom-up (stride/channels) | FPN channels |",
        "|---|---|---:|---:|---|---:|",
    ]
    for name, r in backbones:
        cells = [
            f"`{name}`", r["bottom_up"], _millions(r["params"]), _giga(r["backbone_flops"]),
            _shapes(r["bottom_up_shapes"]), str(next(iter(r["levels"].values())).channels),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _file_summaries(files):
    """``- `file`: first paragraph of its docstring`` for each config file."""
    lines = []
    for path in files:
        with open(path) as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        lines.append(f"- `{os.path.basename(path)}`: {summary}")
    return lines


def write_report(rows, files, args, command, path):
    """Write the Markdown report of ``rows`` ((name, analyze_entry dict) pairs)."""
    import detectron2
    import timm

    models = [(name, r) for name, r in rows if r["kind"] != "FPN"]
    backbones = [(name, r) for name, r in rows if r["kind"] == "FPN"]
    lines = [
        "# Model configs: parameters, FLOPs, feature maps",
        "",
        "Generated by `tools/analyze_models.py` from `configs/common/models/*.py`; "
        "do not edit by hand. Command (repository root):",
        "",
        "```",
        command,
        "```",
        "",
        f"Environment: torch {torch.__version__}, detectron2 {detectron2.__version__}, "
        f"timm {timm.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads.",
        "",
        _CONVENTIONS.format(size=args.size),
        "",
        "## Files",
        "",
    ]
    lines += _file_summaries(files)
    lines += ["", "## Models", ""]
    lines += _model_rows(models, args.train_time)
    lines += [
        "",
        "## Backbone trees (`backbones.py`)",
        "",
        "Bottom-up + FPN (p2-p6), to put into `model.backbone` of an R-CNN, or their "
        "`bottom_up` alone into a RetinaNet. GFLOPs on the image scaled to [0, 1].",
        "",
    ]
    lines += _backbone_rows(backbones)
    if args.train_time:
        lines += [
            "",
            f"Train s/iter: median of {args.iters} iterations (after one warm-up) of forward + "
            f"backward on {args.batch} synthetic {args.size}x{args.size} images with three boxes "
            "(and masks) each, on the CPU above; other processes on the machine add noise.",
        ]
    notes = [(name, n) for name, r in rows for n in r["notes"]]
    if notes:
        lines += ["", "## Notes", ""] + [f"- `{name}`: {n}" for name, n in notes]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", nargs="+", default=[DEFAULT_CONFIGS], help="files or globs, repo-relative"
    )
    parser.add_argument("--size", type=int, default=192, help="square input size")
    parser.add_argument("--output", default=os.path.join("docs", "MODELS.md"))
    parser.add_argument("--train-time", action="store_true", help="time training iterations")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from detectron2.config import LazyConfig

    os.chdir(REPO)
    files = sorted({f for pattern in args.configs for f in glob.glob(pattern)})
    rows = []
    for path in files:
        cfg = LazyConfig.load(path)
        for key, node in cfg.items():
            if "_target_" not in node:
                continue
            name = os.path.basename(path) + ("" if key == "model" else f":{key}")
            print(f"analyzing {name}", file=sys.stderr, flush=True)
            row = analyze_entry(node, args.size, args.train_time, args.batch, args.iters)
            rows.append((name, row))
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join(["python tools/analyze_models.py"] + list(argv))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_report(rows, files, args, command.strip(), args.output)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
