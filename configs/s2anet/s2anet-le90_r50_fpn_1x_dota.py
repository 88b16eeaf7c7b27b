# S2A-Net (le90), ResNet-50 FPN, 12 epochs on DOTA v1.0 (1024 px split), as
# mmrotate 1.x's config of the same name.
_base_ = [
    '../_base_/models/s2anet-le90_r50_fpn.py',
    '../_base_/datasets/dota.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
