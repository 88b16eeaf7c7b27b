# TOY S2A-Net for tests and CPU smoke runs (not for accuracy): ResNet-18
# from scratch, 64 channels, 512 px, the HRSID sample tiles, smaller
# anchors. mmengine replaces lists whole, so the refinement head is restated.
_base_ = [
    '../_base_/models/s2anet-le90_r50_fpn.py',
    '../_base_/datasets/hrsid_samples_toy.py',
    '../_base_/schedules/toy_overfit.py',
    '../_base_/default_runtime.py',
]
num_classes = 1
channels = 64
angle_version = 'le90'

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=channels),
    bbox_head_init=dict(
        num_classes=num_classes,
        in_channels=channels,
        feat_channels=channels,
        anchor_generator=dict(scales=[2])),
    bbox_head_refine=[
        dict(
            type='S2ARefineHead',
            num_classes=num_classes,
            in_channels=channels,
            stacked_convs=2,
            feat_channels=channels,
            frm_cfg=dict(
                type='AlignConv',
                feat_channels=channels,
                kernel_size=3,
                strides=[8, 16, 32, 64, 128]),
            anchor_generator=dict(
                type='PseudoRotatedAnchorGenerator',
                strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(
                type='DeltaXYWHTRBBoxCoder',
                angle_version=angle_version,
                norm_factor=None,
                edge_swap=True,
                proj_xy=True,
                target_means=(0.0, 0.0, 0.0, 0.0, 0.0),
                target_stds=(1.0, 1.0, 1.0, 1.0, 1.0)),
            loss_cls=dict(
                type='mmdet.FocalLoss',
                use_sigmoid=True,
                gamma=2.0,
                alpha=0.25,
                loss_weight=1.0),
            loss_bbox=dict(
                type='mmdet.SmoothL1Loss', beta=0.11, loss_weight=1.0))
    ])
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=25))
