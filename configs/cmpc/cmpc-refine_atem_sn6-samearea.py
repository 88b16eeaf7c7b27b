# CMPC stage 2 (refinement): the attention graph refiner trained on cached
# stage-1 embeddings. Create the caches first:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-embed_r50-wd_sn6-samearea.py STAGE1.pth \
#       --dataloader train --with-queries \
#       --out work_dirs/cmpc/train_embeddings.npz
#   (same with --dataloader test --out work_dirs/cmpc/test_embeddings.npz)
_base_ = ['../_base_/default_runtime.py']

train_cache = 'work_dirs/cmpc/train_embeddings.npz'
test_cache = 'work_dirs/cmpc/test_embeddings.npz'

model = dict(
    type='CMPCGraphRefinement',
    reference_bank=train_cache,
    eval_reference_bank=test_cache,
    node_topk=10,
    temperature=0.1,
    rank_margin=0.3,
    refiner=dict(
        type='AttentionGraphRefiner',
        feat_channels=2048,
        hidden_channels=512,
        num_layers=4,
        num_edges=5,
        edge_source='feature',
        use_positions=False))

train_dataloader = dict(
    batch_size=24,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CMPCEmbeddingCacheDataset', cache_file=train_cache))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CMPCEmbeddingCacheDataset', cache_file=test_cache))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='RetrievalLocalizationMetric',
    topk=(1, 5, 10, 20),
    dist_thrs=(50, 100, 150))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.0025, momentum=0.9, nesterov=True,
        weight_decay=5e-4))
param_scheduler = [
    dict(type='StepLR', step_size=20, gamma=0.1, by_epoch=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=10))
randomness = dict(seed=1)
