# TOY RoI Transformer for tests and CPU smoke runs (not for accuracy):
# ResNet-18 from scratch, 64-channel FPN, RPN and RoI heads, 256-unit FCs,
# 512 px, the HRSID sample tiles, fewer proposals. mmengine replaces lists
# whole, so both stages are restated.
_base_ = [
    '../_base_/models/roi-trans-le90_r50_fpn.py',
    '../_base_/datasets/hrsid_samples_toy.py',
    '../_base_/schedules/toy_overfit.py',
    '../_base_/default_runtime.py',
]
angle_version = 'le90'
num_classes = 1
fc_out_channels = 256
in_channels = 64

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
rcnn_train = dict(
    assigner=dict(
        type='mmdet.MaxIoUAssigner',
        pos_iou_thr=0.5,
        neg_iou_thr=0.5,
        min_pos_iou=0.5,
        match_low_quality=False,
        ignore_iof_thr=-1),
    sampler=dict(
        type='mmdet.RandomSampler',
        num=128,
        pos_fraction=0.25,
        neg_pos_ub=-1,
        add_gt_as_proposals=True),
    pos_weight=-1,
    debug=False)
model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(
        in_channels=64, feat_channels=64, anchor_generator=dict(scales=[4])),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=[
            dict(
                rcnn_train,
                assigner=dict(
                    rcnn_train['assigner'],
                    iou_calculator=dict(type='RBbox2HBboxOverlaps2D'))),
            dict(
                rcnn_train,
                assigner=dict(
                    rcnn_train['assigner'],
                    iou_calculator=dict(type='RBboxOverlaps2D')))
        ]),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)),
    roi_head=dict(
        bbox_roi_extractor=[
            dict(
                type='mmdet.SingleRoIExtractor',
                roi_layer=dict(
                    type='RoIAlign', output_size=7, sampling_ratio=0),
                out_channels=64,
                featmap_strides=[4, 8, 16, 32]),
            dict(
                type='RotatedSingleRoIExtractor',
                roi_layer=dict(
                    type='RoIAlignRotated',
                    out_size=7,
                    sample_num=2,
                    clockwise=True),
                out_channels=64,
                featmap_strides=[4, 8, 16, 32]),
        ],
        bbox_head=[
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
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=25))
