# Rotated RTMDet-tiny (le90), 36 epochs on DOTA v1.0 (1024 px split), as
# mmrotate 1.x's config of the same name (mmosar's DOTA pipeline: no
# RandomRotate, no padding to 1024).
_base_ = [
    '../_base_/models/rotated_rtmdet_tiny.py',
    '../_base_/datasets/dota.py',
    '../_base_/schedules/schedule_3x_adamw_rtmdet.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=8, num_workers=8)
