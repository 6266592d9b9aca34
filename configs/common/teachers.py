"""Frozen teachers for the bundled shapes dataset.

Each reads the checkpoint written by training its own config with the same tool:

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R50_FPN.py
    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R18w64_FPN.py

(their ``train.output_dir`` is ``output/teachers/<name>``). Point ``weights``
elsewhere to use another checkpoint.

One file per detector (teacher_retinanet.py, teacher_faster_rcnn.py), so that a
distillation base reads only its own detector's files; this one gathers them.
"""
from .teacher_faster_rcnn import faster_rcnn_R18w64_teacher
from .teacher_retinanet import retinanet_R50_teacher
