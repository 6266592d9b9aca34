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
# Optional keys, absent here (add them in a config, or as +train.<key>=<value> on the command line):
#   distill_weight_target: the distillation losses' total as a multiple of the detection loss's
#       where the run starts (the project's rule is 0.1); the tool measures it before the first
#       iteration and multiplies every distillation weight accordingly (d2kd.engine.weight_rule)
#   distill_weight_batches: the training batches it averages over per process (default 50)
#   loss_explosion_factor: a total loss this many times the first stops the run (default 1e6; 0: off)
