"""DFMSDDetector: the distillation meta-arch with DFMSD's masking-enhancement pass."""
import contextlib
import logging
from typing import Dict, List

import torch
import torch.nn.functional as F

from d2kd.modeling.distiller import DistillationDetector
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.utils.events import get_event_storage

from .enhancement import ENHANCEMENT_OPS
from .losses import ENHANCED_VIEW

__all__ = ["DFMSDDetector", "enhanced_view"]

logger = logging.getLogger(__name__)


def enhanced_view(batched_inputs: List[dict]) -> List[dict]:
    """The enhanced view of a batch from :class:`dfmsd.MaskingEnhancementMapper`.

    Returns detectron2 inputs whose ``image`` is ``enhanced_image`` and whose
    ``instances`` are ``enhanced_instances`` (when present).
    """
    missing = [i for i, x in enumerate(batched_inputs) if "enhanced_image" not in x]
    if missing:
        raise KeyError(
            "masking_enhancement=True but the batch has no 'enhanced_image' "
            f"(images {missing[:5]}): use dfmsd.MaskingEnhancementMapper as this stage's "
            "dataloader.train.mapper, or set model.masking_enhancement=False."
        )
    view = []
    for x in batched_inputs:
        y = {k: v for k, v in x.items() if k in ("height", "width", "file_name", "image_id")}
        y["image"] = x["enhanced_image"]
        if "enhanced_instances" in x:
            y["instances"] = x["enhanced_instances"]
        view.append(y)
    return view


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module):
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@META_ARCH_REGISTRY.register()
class DFMSDDetector(DistillationDetector):
    """:class:`~d2kd.modeling.DistillationDetector` plus DFMSD's L_ME (eq. 8).

    Training with ``masking_enhancement=True``: after the usual forward (student
    losses, distillation losses on the normal view), the student backbone runs
    on the batch's enhanced view (an extra pass, inherent to ME), each teacher
    runs on the same enhanced images, and every distillation loss is called
    again with ``context.extras[ENHANCED_VIEW] = True``
    (:class:`dfmsd.DFMSDLoss` then returns its ``loss_dfmsd_me_*`` terms).
    The share of crop / noise / no-op decisions of the batch is logged as
    ``dfmsd/me_<op>``.

    Optional, off by default (``adversarial_epsilon=0``): one FGSM step on the
    enhanced images before that pass,
    ``x' = clip(x + epsilon * sign(grad_x D(x)), 0, 255)`` with
    ``D = sum_levels mean((adapter(S(x)) - T(x))^2)``: the perturbation that most
    increases the teacher-student feature distance. The gradient flows through
    the student (in eval mode, so the probe does not touch BN statistics); the
    teacher features are constants, as everywhere in d2kd.

    Inference: the bare student, as the base class.

    Args:
        masking_enhancement: compute L_ME (the batch must carry the enhanced view).
        adversarial_epsilon: FGSM step on the 0-255 pixel scale; 0 disables it.
        **kwargs: :class:`~d2kd.modeling.DistillationDetector` arguments
            (``student``, ``teachers``, ``distill_losses``, ...).
    """

    def __init__(self, *, masking_enhancement: bool = False, adversarial_epsilon: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(adversarial_epsilon, bool) or not adversarial_epsilon >= 0:
            raise ValueError(f"adversarial_epsilon must be >= 0, got {adversarial_epsilon!r}")
        if adversarial_epsilon > 0 and not masking_enhancement:
            raise ValueError(
                "adversarial_epsilon > 0 perturbs the enhanced view; it needs masking_enhancement=True"
            )
        if masking_enhancement:
            unaware = [
                type(loss).__name__
                for loss in self.distill_losses
                if not getattr(loss, "supports_enhanced_view", False)
            ]
            if unaware:
                raise ValueError(
                    f"masking_enhancement=True calls every distillation loss on the enhanced view, "
                    f"but {unaware} do not handle it (no supports_enhanced_view); use "
                    "dfmsd.DFMSDLoss or set masking_enhancement=False."
                )
        self.masking_enhancement = bool(masking_enhancement)
        self.adversarial_epsilon = float(adversarial_epsilon)
        self._warned_unused_view = False

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return self.student(batched_inputs)
        losses = super().forward(batched_inputs)
        if self.masking_enhancement:
            view = enhanced_view(batched_inputs)
            self._log_decisions(batched_inputs)
            if self.adversarial_epsilon > 0:
                view = self.adversarial_view(view)
            losses.update(self.enhanced_view_losses(view))
        elif not self._warned_unused_view and any("enhanced_image" in x for x in batched_inputs):
            logger.warning(
                "The batch carries an enhanced view but model.masking_enhancement=False; it is ignored."
            )
            self._warned_unused_view = True
        return losses

    def enhanced_view_losses(self, view: List[dict]) -> Dict[str, torch.Tensor]:
        """Distillation losses on the enhanced view: the student backbone's extra pass."""
        images = self.student.preprocess_image(view).tensor
        features = self.student.backbone(images)
        return self.distillation_losses(view, features, extras={ENHANCED_VIEW: True})

    def feature_distance(self, batched_inputs: List[dict], student_features) -> torch.Tensor:
        """``sum over teachers and paired levels of mean((adapter(s) - t)^2)`` (a scalar)."""
        total = None
        for name in self._pairs:
            student, teacher = self.paired_features(name, batched_inputs, student_features)
            for level in student:
                term = F.mse_loss(student[level], teacher[level])
                total = term if total is None else total + term
        return total

    def adversarial_view(self, view: List[dict]) -> List[dict]:
        """One FGSM step on the images of ``view`` that increases :meth:`feature_distance`.

        The gradient is taken w.r.t. the student's normalised input tensor; its
        sign equals the sign w.r.t. the 0-255 pixels (the normalisation divides
        by a positive std per channel), so the step is applied to the raw images.
        """
        images = self.student.preprocess_image(view)
        x = images.tensor.detach().requires_grad_(True)
        with torch.enable_grad(), _eval_mode(self.student.backbone):
            distance = self.feature_distance(view, self.student.backbone(x))
            (grad,) = torch.autograd.grad(distance, x)
        eps = self.adversarial_epsilon
        adversarial = []
        for i, (item, (h, w)) in enumerate(zip(view, images.image_sizes)):
            step = eps * grad[i, :, :h, :w].sign()
            image = item["image"].to(self.device, torch.float32)
            adversarial.append(dict(item, image=(image + step).clamp(0.0, 255.0)))
        return adversarial

    def _log_decisions(self, batched_inputs: List[dict]) -> None:
        ops = [x["enhancement"]["op"] for x in batched_inputs if "enhancement" in x]
        if not ops:
            return
        try:
            storage = get_event_storage()
        except AssertionError:  # no EventStorage outside a trainer
            return
        for op in ENHANCEMENT_OPS:
            storage.put_scalar(f"dfmsd/me_{op}", sum(o == op for o in ops) / len(ops))
