# The two HRSID sample tiles in ../shared/data/hrsid (relative to the
# repository root) for toy training and evaluation: the same tiles train and
# test (overfit checks and CPU smoke runs, not accuracy). 512 px images.
_base_ = './hrsid.py'

data_root = '../shared/data/hrsid/'
image_scale = (512, 512)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
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
