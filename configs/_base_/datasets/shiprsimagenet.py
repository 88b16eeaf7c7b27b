# ShipRSImageNet (Zhang et al., JSTARS 2021) in its VOC_Format layout:
#   data/ShipRSImageNet/VOC_Format/{JPEGImages,Annotations}/
#   data/ShipRSImageNet/VOC_Format/ImageSets/{train,val,test}.txt
# The ImageSets lists name image files (`xxx.bmp`); the dataset reads them
# as image id `xxx` with annotation `Annotations/xxx.xml`. Level 3: 50
# fine-grained classes. IFKD's split: train + val for training (the paper's
# 2,748 images) and test for evaluation (the paper says 678 test images;
# 3,435 - 2,748 = 687; counts not verified here). Evaluating needs annotated
# test XMLs: with a copy whose test XMLs hold no <object>, evaluate on val
# instead (and train on train only). HBB boxes (the OBB polygons are kept in the
# instances as `polygon`).
dataset_type = 'ShipRSImageNetDataset'
data_root = 'data/ShipRSImageNet/VOC_Format/'
backend_args = None
image_scale = (1333, 800)
shiprs_level = 3

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
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
        ann_file=['ImageSets/train.txt', 'ImageSets/val.txt'],
        img_subdir='JPEGImages',
        level=shiprs_level,
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
        img_subdir='JPEGImages',
        level=shiprs_level,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', metric='bbox', format_only=False)
test_evaluator = val_evaluator
