# Rotated RTMDet-l (le90), 36 epochs on DOTA v1.0 (1024 px split), as
# mmrotate 1.x's config of the same name. The data pipeline is mmosar's DOTA
# one (mmrotate's adds RandomRotate and pads to 1024 with value 114).
_base_ = [
    '../_base_/models/rotated_rtmdet_l.py',
    '../_base_/datasets/dota.py',
    '../_base_/schedules/schedule_3x_adamw_rtmdet.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4, num_workers=4)
