# TOY rotated RetinaNet for tests, demos and CPU smoke runs (not for
# accuracy): ResNet-18 from scratch, 64-channel FPN and head, 512 px images,
# smaller anchors for small SAR ships, trained and evaluated on the HRSID
# sample tiles in ../shared/data/hrsid (relative to the repository root).
_base_ = './rotated-retinanet-rbox-le90_r50_fpn_6x_hrsid.py'

data_root = '../shared/data/hrsid/'
image_scale = (512, 512)

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    # mmrotate keeps boxes that leave the image whole (its RotatedBoxes.clip_
    # does nothing); mmosar's clip_ cuts them exactly, so turn it off here.
    dict(
        type='Resize',
        scale=image_scale,
        keep_ratio=True,
        clip_object_border=False),
    dict(
        type='RandomFlip',
        prob=0.75,
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs')
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
sample_tiles = dict(
    data_root=data_root,
    ann_file='labelTxt/',
    data_prefix=dict(img_path='images/'),
    img_suffix='png')

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**sample_tiles, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**sample_tiles, pipeline=val_pipeline))
test_dataloader = val_dataloader

# short schedule with a larger lr: the model starts from random weights
train_cfg = dict(max_epochs=100, val_interval=25)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(
        type='MultiStepLR',
        begin=0,
        end=100,
        by_epoch=True,
        milestones=[80],
        gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=25))
