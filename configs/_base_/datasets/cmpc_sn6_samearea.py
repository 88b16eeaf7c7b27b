# SN6-CMPC same-area split: SAR queries, optical references (CMPC, JSTARS
# 2023). Training items are (SAR, optical) pairs of one location; the two
# images get independent random crops/flips. Evaluation embeds the test
# references and queries (mode='all').
dataset_type = 'SN6CMPCDataset'
data_root = 'data/SN6-CMPC/samearea'
crop_size = 200

train_pipeline = [
    dict(
        type='TransformBroadcaster',
        mapping={'img_path': 'img_path'},
        remapping={'img': 'img'},
        auto_remap=False,
        share_random_params=False,
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomCrop', crop_size=(crop_size, crop_size)),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ]),
    dict(type='PackRetrievalInputs', meta_keys=('img_path', )),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='PackRetrievalInputs'),
]

train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        mode='pair',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        mode='all',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='RetrievalLocalizationMetric',
    topk=(1, 5, 10, 20),
    dist_thrs=(50, 100, 150),
    released_thresholds=True)  # also the released 42.1/94.7/147.4/200 m
test_evaluator = val_evaluator
