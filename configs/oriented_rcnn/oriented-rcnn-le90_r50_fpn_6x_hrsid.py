# Oriented R-CNN (le90), ResNet-50 FPN, 72 epochs on the HRSID SAR ship set
# (800 x 800 tiles, one class) in DOTA label format.
_base_ = [
    '../_base_/models/oriented-rcnn-le90_r50_fpn.py',
    '../_base_/datasets/hrsid.py',
    '../_base_/schedules/schedule_6x.py',
    '../_base_/default_runtime.py',
]

model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))
optim_wrapper = dict(optimizer=dict(lr=0.005))
