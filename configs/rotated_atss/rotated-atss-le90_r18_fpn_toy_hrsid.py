# TOY rotated ATSS for tests and CPU smoke runs (not for accuracy): ResNet-18
# from scratch, 64-channel FPN and head, 512 px, the HRSID sample tiles,
# smaller anchors for small SAR ships.
_base_ = [
    '../_base_/models/rotated-atss-le90_r50_fpn.py',
    '../_base_/datasets/hrsid_samples_toy.py',
    '../_base_/schedules/toy_overfit.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        num_classes=1,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2)))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=25))
