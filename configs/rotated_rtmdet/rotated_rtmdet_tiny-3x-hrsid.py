# Rotated RTMDet-tiny (le90), 36 epochs on the HRSID SAR ship set (800 x 800
# tiles, one class) in DOTA label format.
_base_ = [
    '../_base_/models/rotated_rtmdet_tiny.py',
    '../_base_/datasets/hrsid.py',
    '../_base_/schedules/schedule_3x_adamw_rtmdet.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=1))
train_dataloader = dict(batch_size=8)
