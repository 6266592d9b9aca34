#!/usr/bin/env bash
# Calibration of the converged rows (README.md beside this script): single-stage
# methods (no argument) need only the R18w64 teacher at N; "mkd" MKD; "mkd_mask" MKD into the
# Mask R-CNN student; "dfmsd" both DFMSD rows,
# which need the weak teacher at N too. Each: a fresh student (seed 0), 200 training batches.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
PY=.venv/bin/python
T=$(ls -d output/benchmark/conv_teacher_r18w64_3000/seed0-*/)model_final.pth
OUT=docs/results/loss_scale/converged
SIZE="dataloader.train.mapper.augmentations.0.short_edge_length=[100,112] dataloader.train.mapper.augmentations.0.max_size=192 dataloader.test.mapper.augmentations.0.short_edge_length=112 dataloader.test.mapper.augmentations.0.max_size=192 model.min_input_size=100"
STUDENT="model.student.backbone.bottom_up.stages.base_width=16 model.student.backbone.out_channels=32"
DF=projects/DFMSD/configs/Shapes
export OMP_NUM_THREADS=1  # D2KD_DATASETS as for the benchmark
what=${1:-single}
if [ "$what" = single ]; then
  for m in ${METHODS:-fitnet pkd cwd mgd fgd dmkd}; do
    $PY tools/loss_scale.py --iters 200 --target 0.1 --config-file configs/baselines/${m}_R18w64_to_R18_faster_rcnn.py \
      $SIZE $STUDENT model.teachers.weights=$T > $OUT/$m.txt 2> $OUT/.$m.err
  done
elif [ "$what" = mkd_mask ]; then  # the Mask R-CNN row (MKD table 2), its student at width 16
  $PY tools/loss_scale.py --iters 200 --target 0.1 --config-file projects/MKD/configs/Shapes/mkd_R18w64_to_R18_mask_rcnn.py \
    $SIZE $STUDENT model.teachers.weights=$T > $OUT/mkd_mask.txt 2> $OUT/.mkd_mask.err
elif [ "$what" = mkd ]; then
  $PY tools/loss_scale.py --iters 200 --target 0.1 --config-file projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py \
    $SIZE $STUDENT model.teachers.weights=$T > $OUT/mkd.txt 2> $OUT/.mkd.err
else
  W=$(ls -d output/benchmark/conv_teacher_weak_3000/seed0-*/)model_final.pth
  $PY tools/loss_scale.py --iters 200 --target 0.1 --config-file $DF/dfmsd_R34_R18w64_to_R18_faster_rcnn.py \
    $SIZE $STUDENT stages.0.model.teachers.weights=$W model.teachers.weights=$T > $OUT/dfmsd_stage1.txt 2> $OUT/.dfmsd_stage1.err
  $PY -m dfmsd.cache_boxes --config-file $DF/dfmsd_R34_R18w64_to_R18_faster_rcnn.py --stage 1 \
    --output output/calibration_converged/boxes.json $SIZE stages.0.model.teachers.weights=$W > output/calibration_converged_cache.log 2>&1
  $PY tools/loss_scale.py --iters 200 --target 0.1 --config-file $DF/dfmsd_onestage_R18w64_to_R18_faster_rcnn.py \
    $SIZE $STUDENT model.teachers.weights=$T dataloader.train.mapper.box_cache=output/calibration_converged/boxes.json \
    > $OUT/dfmsd_onestage.txt 2> $OUT/.dfmsd_onestage.err
fi
