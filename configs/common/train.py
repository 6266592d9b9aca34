"""Training settings for tools/lazyconfig_train_net.py, based on detectron2's own
common/train.py (so the keys are the ones detectron2 users know)."""
import torch

from detectron2 import model_zoo

train = model_zoo.get_config("common/train.py").train
train.update(
    output_dir="./output",
    # cuda when a GPU is visible, else cpu, decided when the config is loaded: a device
    # detectron2's own tools/lazyconfig_train_net.py understands too (d2kd's tool also
    # takes train.device=auto)
    device="cuda" if torch.cuda.is_available() else "cpu",
    seed=0,  # each process seeds with seed + rank; -1 draws a random seed
    max_iter=2000,
    eval_period=1000,
    log_period=20,
    checkpointer=dict(period=500, max_to_keep=3),
    # every N iterations, gradient norms and cosines of each loss on the student's
    # backbone, neck and heads (d2kd.engine.diagnostics); 0: off, costs nothing
    distill_diagnostics_period=0,
)
