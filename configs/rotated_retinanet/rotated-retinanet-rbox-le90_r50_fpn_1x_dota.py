# Rotated RetinaNet (rbox assigner IoU, le90 angles), ResNet-50 FPN, 12 epochs
# on DOTA v1.0 split into 1024 px patches (mmrotate's baseline:
# 68.42 mAP on the DOTA test server).
_base_ = [
    '../_base_/models/rotated-retinanet_r50_fpn.py',
    '../_base_/datasets/dota.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
