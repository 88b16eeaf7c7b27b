# HRSC2016 ships (one class; `classwise=True` gives the 31-class hierarchy).
# Evaluated with both VOC07 11-point and VOC12 area AP, as usual for HRSC.
dataset_type = 'HRSCDataset'
data_root = 'data/hrsc/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    # boxes crossing the image border stay whole, as in mmrotate (whose
    # RotatedBoxes.clip_ does nothing); mmosar's clip_ would cut them
    dict(
        type='Resize',
        scale=(800, 512),
        keep_ratio=True,
        clip_object_border=False),
    dict(
        type='RandomFlip',
        prob=0.75,
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs')
]
val_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(800, 512), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
test_pipeline = val_pipeline

_data_prefix = dict(
    img_path='FullDataSet/AllImages/', ann_path='FullDataSet/Annotations/')
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/trainval.txt',
        data_prefix=_data_prefix,
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/test.txt',
        data_prefix=_data_prefix,
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='DOTAMetric', eval_mode='11points', prefix='dota_ap07'),
    dict(type='DOTAMetric', eval_mode='area', prefix='dota_ap12'),
]
test_evaluator = val_evaluator
