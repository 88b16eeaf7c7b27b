# IFKD student baseline: retinanet r18 + FPN on ShipRSImageNet (level 3, 50 classes) (the teacher config
# with the backbone swapped).
_base_ = [
    './retinanet_r50_fpn_100e_shiprs.py',
    '../_base_/models/ifkd_student_backbones.py'
]

model = dict(
    backbone={{_base_.resnet18}},
    neck=dict(in_channels={{_base_.resnet18_channels}}))
