# CPU smoke variant of the OptiSar_Pair pretraining: a tiny ViT at 64x32 on
# the toy pair folder written by
#   python tools/data/make_toy_hoss.py ../shared/data/3mos_pairs \
#       data/toy_hoss --pairs-out data/toy_optisar_pair
_base_ = ['./transoss_vit-b16_4xb128-60e_optisar-pair-pretrain.py']

img_size = (64, 32)
# `_delete_`: replaces the base arch name ('base') by this dict.
tiny_vit = dict(
    _delete_=True,
    embed_dims=32,
    num_layers=2,
    num_heads=2,
    feedforward_channels=64)
model = dict(
    backbone=dict(arch=tiny_vit, img_size=img_size, init_cfg=None))

train_pipeline = [
    dict(type='LoadShipChip'),
    dict(
        type='Resize',
        scale=(img_size[1], img_size[0]),
        keep_ratio=False,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=2),
    dict(
        type='mmpretrain.PackInputs',
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'modality')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(num_ids=4, num_instances=2),
    dataset=dict(data_root='data/toy_optisar_pair/', pipeline=train_pipeline))

max_iters = 4
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.003, momentum=0.9,
                                    weight_decay=1e-4),
                     paramwise_cfg=dict(
                         custom_keys={'bias': dict(lr_mult=2.0)}))
# The released schedule per iteration: 2 warm-up steps, cosine to step 4.
param_scheduler = [
    dict(
        type='TimmCosineLR',
        t_initial=max_iters,
        eta_min=0.002 * 0.003,
        warmup_t=2,
        warmup_lr_init=0.01 * 0.003,
        by_epoch=False,
        begin=0,
        end=max_iters)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    checkpoint=dict(interval=max_iters, by_epoch=False),
    logger=dict(interval=1))
log_processor = dict(by_epoch=False)
