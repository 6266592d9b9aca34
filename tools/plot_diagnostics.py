#!/usr/bin/env python
"""Plot and summarise the gradient-balance diagnostics of a distillation run.

A run with ``train.distill_diagnostics_period=N`` writes, every N iterations,
``grad_norm/<term>/<part>``, ``grad_ratio/<term>/<part>`` (the term's gradient
norm over the detection loss's, on that part of the student) and
``grad_cos/<term>/<part>`` (the cosine between the two gradients) into its
``metrics.json`` (d2kd/engine/diagnostics.py). This tool draws the ratios and the
cosines over the iterations, one curve per term and part, and prints their
medians, the figures to read when choosing loss weights (README, "Choosing loss
weights")::

    python tools/plot_diagnostics.py output/mkd/metrics.json --output output/mkd/diagnostics.png
"""
import argparse
import os
import statistics
import sys
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_losses import distinct_colors, read_metrics, save_figure  # noqa: E402

KINDS = ("grad_ratio", "grad_cos", "grad_norm")
Series = Dict[Tuple[str, str], Tuple[List[int], List[float]]]


def diagnostics_series(records: Sequence[dict], kind: str) -> Series:
    """``{(term, part): (iterations, values)}`` of one ``kind`` (``grad_ratio``, ``grad_cos``
    or ``grad_norm``), sorted by iteration; for an iteration written twice (a resumed run),
    the last record wins."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    table: Dict[Tuple[str, str], Dict[int, float]] = defaultdict(dict)
    for record in records:
        if "iteration" not in record:
            continue
        for key, value in record.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == kind and isinstance(value, (int, float)):
                table[(parts[1], parts[2])][int(record["iteration"])] = float(value)
    out = {}
    for name in sorted(table):
        iters = sorted(table[name])
        out[name] = (iters, [table[name][i] for i in iters])
    return out


def summary_table(records: Sequence[dict]) -> str:
    """Markdown: per distillation term and student part, the median gradient ratio and
    cosine over the measured iterations."""
    ratios, cosines = diagnostics_series(records, "grad_ratio"), diagnostics_series(records, "grad_cos")
    if not ratios:
        raise ValueError("No gradient diagnostics in these records: train with "
                         "train.distill_diagnostics_period=<N> (a distillation config)")
    lines = ["| term | part | median grad ratio (term / detection) | median cosine with detection | "
             "measurements |", "|---|---|---|---|---|"]
    for (term, part), (iters, values) in ratios.items():
        cos = cosines.get((term, part))
        cos_cell = f"{statistics.median(cos[1]):+.3f}" if cos else "(zero gradient)"
        lines.append(f"| {term} | {part} | {statistics.median(values):.3g} | {cos_cell} | {len(iters)} |")
    return "\n".join(lines)


def plot_diagnostics(records: Sequence[dict], output: str, title: str = "") -> str:
    """Two panels, gradient ratios (log scale) and cosines, into the PNG file ``output``."""
    return save_figure(diagnostics_figure(records), output, title)


def diagnostics_figure(records: Sequence[dict]):
    """The figure of :func:`plot_diagnostics`: a curve per term and part, in one colour in both
    panels, no two curves alike."""
    ratios, cosines = diagnostics_series(records, "grad_ratio"), diagnostics_series(records, "grad_cos")
    if not ratios:
        raise ValueError("No gradient diagnostics to plot: train with train.distill_diagnostics_period=<N>")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.8, 4.4))
    names = sorted(set(ratios) | set(cosines))
    colors = dict(zip(names, distinct_colors(len(names))))  # a term and part: one colour in both panels
    for ax, series, label in ((left, ratios, "grad norm, term / detection"),
                              (right, cosines, "cosine with the detection gradient")):
        for (term, part), (iters, values) in series.items():
            if part == "heads" and ax is left and not any(values):
                continue  # distillation does not reach the heads: a flat zero
            ax.plot(iters, values, label=f"{term} / {part}", marker="o" if len(iters) < 10 else None,
                    color=colors[(term, part)])
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    left.set_yscale("log")
    left.axhline(1.0, color="#888", linewidth=0.8)
    right.axhline(0.0, color="#888", linewidth=0.8)
    right.set_ylim(-1.05, 1.05)
    return fig


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", help="a run's metrics.json")
    parser.add_argument("--output", default=None, help="PNG path (default: diagnostics.png beside metrics.json)")
    parser.add_argument("--title", default=None, help="figure title (default: the run folder)")
    args = parser.parse_args(argv)
    folder = os.path.dirname(os.path.abspath(args.metrics))
    output = args.output or os.path.join(folder, "diagnostics.png")
    records = read_metrics(args.metrics)
    print(summary_table(records))
    path = plot_diagnostics(records, output, title=os.path.basename(folder) if args.title is None else args.title)
    print(f"\nwrote {path}")
    return path


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"plot_diagnostics: {e}")
