# Toy CPU run of the CMPC embedding stage on the 120 real 3MOS pairs:
# a narrow ResNet-18 (base width 16, last stride 1, 128-d feature) from
# scratch at 64 px, same losses as the paper config (triplet margin 0.5 +
# Wasserstein critic) and BatchNorm with the joint [optical ; SAR] batch as
# released. (The toy once used GroupNorm because the embedder ran the two
# modalities in separate passes, which gives each its own BatchNorm batch
# statistics. Measured with the fast learning test, 40 pairs, recall@1 for
# seeds 0/1/2: BN joint batch 25.0/17.5/17.5, BN two passes 7.5/5.0/7.5,
# GroupNorm 25.0/30.0/27.5; chance 2.5.) Evaluated on the training pairs: a
# learning check that finishes in minutes on 2 CPU cores.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/cmpc_3mos_pairs_toy.py',
    '../_base_/models/cmpc_embedder_r50.py',
    '../_base_/schedules/cmpc_sgd_30e.py',
]

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None),
    pretrained=None,  # from scratch
    head=dict(in_channels=128, proj_channels=128),
    critic=dict(in_channels=128, hidden_channels=128))

optim_wrapper = dict(
    embedder=dict(
        optimizer=dict(
            _delete_=True, type='Adam', lr=1e-3, weight_decay=5e-4),
        paramwise_cfg=dict(custom_keys={'head.projector': dict(lr_mult=1)})))
param_scheduler = dict(embedder=[], critic=[])
train_cfg = dict(max_epochs=30, val_interval=10)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=30))
log_processor = dict(window_size=5)
randomness = dict(seed=1)
