# RoI Transformer (le90), ResNet-50 FPN, 12 epochs on DOTA v1.0 (1024 px
# split), as mmrotate 1.x's config of the same name (SGD lr 0.005).
_base_ = [
    '../_base_/models/roi-trans-le90_r50_fpn.py',
    '../_base_/datasets/dota.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(optimizer=dict(lr=0.005))
