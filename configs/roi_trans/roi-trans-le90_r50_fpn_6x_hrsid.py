# RoI Transformer (le90), ResNet-50 FPN, 72 epochs on the HRSID SAR ship set
# (800 x 800 tiles, one class) in DOTA label format. mmengine replaces lists
# whole, so both stage heads are restated with num_classes=1.
_base_ = [
    '../_base_/models/roi-trans-le90_r50_fpn.py',
    '../_base_/datasets/hrsid.py',
    '../_base_/schedules/schedule_6x.py',
    '../_base_/default_runtime.py',
]
angle_version = 'le90'
num_classes = 1
fc_out_channels = 1024
in_channels = 256

stage_head = dict(
    type='mmdet.Shared2FCBBoxHead',
    predict_box_type='rbox',
    in_channels=in_channels,
    fc_out_channels=fc_out_channels,
    roi_feat_size=7,
    num_classes=num_classes,
    reg_predictor_cfg=dict(type='mmdet.Linear'),
    cls_predictor_cfg=dict(type='mmdet.Linear'),
    loss_cls=dict(
        type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0))
model = dict(
    roi_head=dict(bbox_head=[
        dict(
            **stage_head,
            bbox_coder=dict(
                type='DeltaXYWHTHBBoxCoder',
                angle_version=angle_version,
                norm_factor=2,
                edge_swap=True,
                target_means=(.0, .0, .0, .0, .0),
                target_stds=(0.1, 0.1, 0.2, 0.2, 0.1),
                use_box_type=True),
            reg_class_agnostic=True),
        dict(
            **stage_head,
            bbox_coder=dict(
                type='DeltaXYWHTRBBoxCoder',
                angle_version=angle_version,
                norm_factor=None,
                edge_swap=True,
                proj_xy=True,
                target_means=[0., 0., 0., 0., 0.],
                target_stds=[0.05, 0.05, 0.1, 0.1, 0.05]),
            reg_class_agnostic=False)
    ]))
optim_wrapper = dict(optimizer=dict(lr=0.005))
