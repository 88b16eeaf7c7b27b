# SAR-AIRcraft-1.0 (Gaofen-3 spotlight SAR, 1 m; 7 aircraft classes,
# horizontal boxes) in its VOC layout:
#   data/SAR-AIRcraft-1.0/{JPEGImages,Annotations}/<id>.{jpg,xml}
#   data/SAR-AIRcraft-1.0/ImageSets/Main/{train,val,test}.txt
# IFKD trains on train+val (3,489 images) and tests on test (879).
# COCO-style bbox mAP / AP50 / AP75 as in the paper.
dataset_type = 'SARAircraftDataset'
data_root = 'data/SAR-AIRcraft-1.0/'
backend_args = None
image_scale = (800, 800)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
# IFKD with cached EDE masks: the masks ride along as a segmentation map so
# that every geometric transform moves them with the image.
ifkd_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_seg=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        # `instances`: CocoMetric builds its ground truth from them
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
        data_root=data_root,
        # train + val of the official split
        ann_file=['ImageSets/Main/train.txt', 'ImageSets/Main/val.txt'],
        img_subdir='JPEGImages',
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
        ann_file='ImageSets/Main/test.txt',
        img_subdir='JPEGImages',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', metric='bbox', format_only=False)
test_evaluator = val_evaluator
