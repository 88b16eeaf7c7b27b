# Toy M4-SAR (synthetic, released layout, 256 x 256) for the demo and smoke
# tests. Generate it first:
#   python tools/data/make_toy_m4sar.py data/toy_m4sar
_base_ = ['./m4sar.py']

data_root = 'data/toy_m4sar/'
img_size = 256

train_pipeline = [
    dict(type='LoadPairedImages', sar_channels={{_base_.sar_channels}}),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PairedRandomHSV', value_gain_on_sar=True),
    dict(type='PackDetInputs', meta_keys={{_base_.meta_keys}})
]
test_pipeline = [
    dict(type='LoadPairedImages', sar_channels={{_base_.sar_channels}}),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='PackDetInputs', meta_keys={{_base_.meta_keys}})
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
