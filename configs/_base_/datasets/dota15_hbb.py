# DOTA v1.5 split into 512 px patches (SDCoNet's "DOTAv1.5-Split"), 16
# classes, horizontal boxes = bounding rectangles of the polygons:
#   python tools/data/dota/split.py ...   (patch size 512, see tools/data/dota)
#   data/DOTAv1.5_Split/{train,test}/images/*.png
#   data/DOTAv1.5_Split/{train,test}/annfiles/*.txt   (DOTA label files)
# Evaluated with mmdet's CocoMetric on the dataset's own instances (no json).
custom_imports = dict(
    imports=['mmosar.datasets.dota_hbb'], allow_failed_imports=False)
dataset_type = 'DOTAHBBDataset'
data_root = 'data/DOTAv1.5_Split/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    # ``instances`` travel with the sample: CocoMetric builds its ground
    # truth from them.
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'instances'))
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        version='v1.5',
        data_root=data_root,
        ann_file='train/annfiles/',
        data_prefix=dict(img_path='train/images/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        version='v1.5',
        data_root=data_root,
        ann_file='test/annfiles/',
        data_prefix=dict(img_path='test/images/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', metric='bbox', format_only=False)
test_evaluator = val_evaluator
