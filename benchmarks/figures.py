"""The figures of a benchmark's RESULTS section: AP per method and the loss curves of the
headline methods."""
import os

from .plan import REFERENCE_ROLES
from .runner import last_stage_dir
from .scripts import tool_module


def _draw_figures(profile, tasks, results, folder):
    """AP per method (error bars: std over seeds) and loss curves of the headline methods."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_losses = tool_module("plot_losses")

    os.makedirs(folder, exist_ok=True)
    figures = []
    shown = [r for r in results.values() if r.row.table == (profile.table or "main")]
    if shown:
        fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(shown)), 4))
        means = [r.mean() for r in shown]
        errors = [r.std() for r in shown]
        ax.bar(range(len(shown)), means, yerr=errors, capsize=4,
               color=["#888" if r.row.role in REFERENCE_ROLES else "#3a7" for r in shown])
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([r.row.label.replace(" (", "\n(") for r in shown], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("bbox AP (COCO, %)")
        ax.set_title(f"benchmark '{profile.name}': AP per method on val (error bar: std over seeds)")
        fig.tight_layout()
        path = os.path.join(folder, f"{profile.name}_ap.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        figures.append(("AP per method", path))
    for task in tasks:
        headline_method = task.row is not None and task.row.headline and task.row.role == "distill"
        if not headline_method or task.seed != _first_seed(tasks, task.row):
            continue
        metrics = _last_stage_metrics(task.output_dir)
        if not os.path.isfile(metrics):  # a run known from its record only
            continue
        detection, distillation = plot_losses.loss_series(plot_losses.read_metrics(metrics))
        path = os.path.join(folder, f"{profile.name}_losses_{task.row.name}.png")
        stage = ", last SAL stage" if task.row.stages > 1 else ""
        # log scale: the distillation terms can be 100x the detection losses
        plot_losses.plot_losses(detection, distillation, path, log_y=True,
                                title=f"{task.row.label}, seed {task.seed}{stage}")
        figures.append((f"loss curves, {task.row.label}", path))
    return figures


def _first_seed(tasks, row):
    return min(t.seed for t in tasks if t.row is not None and t.row.name == row.name)


def _last_stage_metrics(output_dir):
    """metrics.json of a run folder, or of its last SAL stage."""
    return os.path.join(last_stage_dir(output_dir), "metrics.json")
