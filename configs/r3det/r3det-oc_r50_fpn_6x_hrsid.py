# R3Det (oc), ResNet-50 FPN, 72 epochs on the HRSID SAR ship set (800 x 800
# tiles, one class) in DOTA label format. mmengine replaces lists whole, so
# the refinement head is restated.
_base_ = [
    '../_base_/models/r3det-oc_r50_fpn.py',
    '../_base_/datasets/hrsid.py',
    '../_base_/schedules/schedule_6x.py',
    '../_base_/default_runtime.py',
]
angle_version = 'oc'
num_classes = 1
channels = 256

model = dict(
    bbox_head_init=dict(num_classes=num_classes),
    bbox_head_refine=[
        dict(
            type='R3RefineHead',
            num_classes=num_classes,
            in_channels=channels,
            stacked_convs=4,
            feat_channels=channels,
            frm_cfg=dict(
                type='FRM', feat_channels=channels,
                strides=[8, 16, 32, 64, 128]),
            anchor_generator=dict(
                type='PseudoRotatedAnchorGenerator',
                strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(
                type='DeltaXYWHTRBBoxCoder',
                angle_version=angle_version,
                norm_factor=None,
                edge_swap=False,
                proj_xy=False,
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
