# TOY Oriented R-CNN for tests and CPU smoke runs (not for accuracy):
# ResNet-18 from scratch, 64-channel FPN, RPN and RoI head, 256-unit FCs,
# 512 px, the HRSID sample tiles, fewer sampled anchors / RoIs.
_base_ = [
    '../_base_/models/oriented-rcnn-le90_r50_fpn.py',
    '../_base_/datasets/hrsid_samples_toy.py',
    '../_base_/schedules/toy_overfit.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=1)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=25))
