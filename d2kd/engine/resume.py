"""Exact resume: a run stopped and resumed trains the weights of a run trained in one piece.

detectron2's checkpointer brings back the model, optimizer, scheduler and iteration. Two
things more decide the rest of a run: where the training data stream stands, and the global
random number generators (the distillation losses draw random masks from torch's). The
training tool's ``do_train`` uses the pieces here, in this order:

1. :func:`start_data_stream` right after building the trainer, before loading a checkpoint,
   in a fresh run and a resumed one alike: the data loader's worker seed is drawn from torch's
   generator when its iterator is created, so it is created at the same point in both;
2. the checkpointer loads :class:`RNGStates` (its checkpointable ``"rng"``) with the rest,
   which only keeps the saved states, and :class:`LossNormalizers` (RetinaNet's running loss
   normalizer, which the model's state_dict lacks);
3. :func:`skip_batches` draws and discards the ``start_iter`` batches the stopped run
   consumed (the data stream replayed, augmentation randomness included: data loading only);
4. :meth:`RNGStates.restore` then sets the generators to the saved states, after the skip,
   so that it is right also with ``num_workers=0``, where mapping uses the main process's
   generators.

An evaluation during training runs inside :func:`rng_states_kept`: the checkpoint of an
iteration is written before that iteration's evaluation, and the evaluation's loader draws
from torch's generator; kept, the training after it draws what a resumed run draws.
"""
import contextlib
import logging
import random
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.utils import comm

__all__ = ["LOSS_NORMALIZERS_CHECKPOINTABLE", "LossNormalizers", "RNG_CHECKPOINTABLE", "RNGStates", "rng_states_kept", "skip_batches", "start_data_stream"]

logger = logging.getLogger(__name__)

# the keys of the RNG states and of the loss normalizers in a checkpoint (extra
# checkpointables of DetectionCheckpointer)
RNG_CHECKPOINTABLE = "rng"
LOSS_NORMALIZERS_CHECKPOINTABLE = "loss_normalizers"


def _capture() -> Dict[str, Any]:
    """The global generators' states, as tensors and numbers only (checkpoints are read
    with ``torch.load(weights_only=True)``)."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _apply(states: Dict[str, Any]) -> None:
    """Set the global generators to ``states`` (from :func:`_capture`)."""
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        if len(states["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states["cuda"])
        else:
            logger.info("The checkpoint holds the CUDA RNG states of %d devices, this machine has %d: "
                        "the CUDA RNGs are not restored", len(states["cuda"]), torch.cuda.device_count())


class RNGStates:
    """The global random number generators (torch CPU, CUDA when available, numpy, python
    ``random``) as a checkpointable: ``state_dict()`` gives their states now (each checkpoint
    holds the states of the iteration it saves); ``load_state_dict()`` only keeps the loaded
    states, which :meth:`restore` sets once the data stream has been fast-forwarded."""

    def __init__(self):
        self._loaded: Optional[Dict[str, Any]] = None

    def state_dict(self) -> Dict[str, Any]:
        return _capture()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._loaded = state

    def restore(self) -> bool:
        """Set the generators to the loaded states; False (with a logged line saying the
        resume is not exact) when the checkpoint held none, i.e. was written before they
        were saved, or when several processes train (each has its own generators; the
        checkpoint holds the main process's)."""
        if self._loaded is None:
            logger.info("The checkpoint holds no RNG states (written before they were saved): "
                        "this resume is not exact, the random numbers differ from an uninterrupted run")
            return False
        if comm.get_world_size() > 1:
            logger.info("%d processes train: the checkpoint holds the main process's RNG states only, "
                        "so each process keeps its own seeding and this resume is not exact",
                        comm.get_world_size())
            return False
        _apply(self._loaded)
        logger.info("RNG states (torch, numpy, python%s) restored from the checkpoint",
                    ", CUDA" if "cuda" in self._loaded else "")
        return True


class LossNormalizers:
    """The running loss normalizers of the dense detectors in a model (RetinaNet's and FCOS's
    ``loss_normalizer``, an EMA of the number of foreground anchors kept as a plain attribute,
    so not in the model's state_dict) as a checkpointable, keyed by module name."""

    def __init__(self, model):
        self._model = model

    def _modules(self):
        return {name: m for name, m in self._model.named_modules() if isinstance(m, DenseDetector)}

    def state_dict(self) -> Dict[str, float]:
        return {name: float(m.loss_normalizer) for name, m in self._modules().items()
                if hasattr(m, "loss_normalizer")}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        modules = self._modules()
        for name, value in state.items():
            if name in modules:
                modules[name].loss_normalizer = float(value)


@contextlib.contextmanager
def rng_states_kept():
    """The global generators leave the block in the states they entered it with."""
    states = _capture()
    try:
        yield
    finally:
        _apply(states)


def start_data_stream(trainer) -> None:
    """Create the trainer's training data iterator now (detectron2 v0.6 does in the trainer's
    ``__init__``, newer versions lazily at the first step), so that the loader's worker seed,
    drawn from torch's generator, is drawn at the same point in a fresh and a resumed run."""
    trainer._data_loader_iter  # noqa: B018: reading it creates it where it is lazy


def skip_batches(trainer, num_batches: int) -> None:
    """Draw and discard the first ``num_batches`` batches of the trainer's data stream, the
    batches a stopped run trained on before its checkpoint; logs how long it took."""
    if num_batches <= 0:
        return
    start = time.perf_counter()
    data_iter = trainer._data_loader_iter
    for _ in range(num_batches):
        next(data_iter)
    logger.info("Resume: skipped the %d batches trained before the checkpoint in %.1f s (data loading only)",
                num_batches, time.perf_counter() - start)

