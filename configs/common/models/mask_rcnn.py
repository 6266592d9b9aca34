"""CPU-sized Mask R-CNN student: the Faster R-CNN student of ``faster_rcnn.py``
plus a 4-conv mask head at the FPN width (14x14 ROI features, 28x28 masks).

The data loader must provide masks (``DatasetMapper(use_instance_mask=True)``).
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import MaskRCNNConvUpsampleHead

from .faster_rcnn import model

model.roi_heads.update(
    mask_in_features=["p2", "p3", "p4", "p5"],
    mask_pooler=L(ROIPooler)(
        output_size=14,
        scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32),
        sampling_ratio=0,
        pooler_type="ROIAlignV2",
        canonical_box_size="${..box_pooler.canonical_box_size}",
    ),
    mask_head=L(MaskRCNNConvUpsampleHead)(
        input_shape=L(ShapeSpec)(channels="${....backbone.out_channels}", width=14, height=14),
        num_classes="${..num_classes}",
        # four 3x3 convs and the 2x deconvolution, all at the FPN width
        conv_dims=["${....backbone.out_channels}"] * 5,
    ),
)
