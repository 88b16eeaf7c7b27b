# IFKD student baseline: faster-rcnn mobilenetv2 + FPN on ShipRSImageNet (level 3, 50 classes) (the teacher config
# with the backbone swapped).
_base_ = [
    './faster-rcnn_r50_fpn_100e_shiprs.py',
    '../_base_/models/ifkd_student_backbones.py'
]

model = dict(
    backbone={{_base_.mobilenetv2}},
    neck=dict(in_channels={{_base_.mobilenetv2_channels}}))
