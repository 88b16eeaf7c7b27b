# IFKD teacher: RetinaNet ResNet-50 + FPN on ShipRSImageNet (level 3, 50 classes).
_base_ = [
    '../_base_/models/ifkd_retinanet_r50_fpn.py',
    '../_base_/datasets/shiprsimagenet.py',
    '../_base_/schedules/ifkd_retinanet_schedule_100e.py',
    '../_base_/ifkd_runtime.py'
]

model = dict(bbox_head=dict(num_classes=50))
