# Toy CPU retrieval set: the 120 real co-registered 3MOS optical/SAR pairs in
# ../shared/data/3mos_pairs (same file name = same place, no positions).
# Train and evaluate on the same pairs (a learning check, not a benchmark).
dataset_type = 'PairedRetrievalDataset'
data_root = '../shared/data/3mos_pairs'
img_size = 64

train_pipeline = [
    dict(
        type='TransformBroadcaster',
        mapping={'img_path': 'img_path'},
        remapping={'img': 'img'},
        auto_remap=False,
        share_random_params=False,
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ]),
    dict(type='PackRetrievalInputs', meta_keys=('img_path', )),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='PackRetrievalInputs'),
]

train_dataloader = dict(
    batch_size=24,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        meta_file='pairs.csv',
        mode='pair',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        meta_file='pairs.csv',
        mode='all',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='RetrievalLocalizationMetric', topk=(1, 5, 10))
test_evaluator = val_evaluator
