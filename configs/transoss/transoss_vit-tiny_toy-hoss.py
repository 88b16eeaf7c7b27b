# CPU smoke variant of the HOSS fine-tuning: a tiny ViT at 64x32 on the toy
# HOSS folder written by (16 training ids)
#   python tools/data/make_toy_hoss.py ../shared/data/3mos_pairs data/toy_hoss
_base_ = ['./transoss_vit-b16_p8k4-200e_hoss.py']

data_root = 'data/toy_hoss/'
img_size = (64, 32)
# `_delete_`: replaces the base arch name ('base') by this dict.
tiny_vit = dict(
    _delete_=True,
    embed_dims=32,
    num_layers=2,
    num_heads=2,
    feedforward_channels=64)
model = dict(
    backbone=dict(arch=tiny_vit, img_size=img_size, init_cfg=None),
    head=dict(in_channels=32, num_classes=16))

ship_size = dict(type='ShipSizeVector')  # released HOSS constants
meta_keys = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'modality',
             'ship_size', 'role', 'protocol')
train_pipeline = [
    dict(type='LoadShipChip'),
    ship_size,
    dict(
        type='Resize',
        scale=(img_size[1], img_size[0]),
        keep_ratio=False,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=2),
    dict(type='mmpretrain.PackInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadShipChip'),
    ship_size,
    dict(
        type='Resize',
        scale=(img_size[1], img_size[0]),
        keep_ratio=False,
        backend='pillow',
        interpolation='bilinear'),
    dict(type='mmpretrain.PackInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(num_ids=4, num_instances=4),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 4
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=5e-4, momentum=0.9,
                                    weight_decay=1e-4),
                     paramwise_cfg=dict(
                         custom_keys={'bias': dict(lr_mult=2.0)}))
# The released schedule per iteration: 2 warm-up steps, cosine to step 4.
param_scheduler = [
    dict(
        type='TimmCosineLR',
        t_initial=max_iters,
        eta_min=0.002 * 5e-4,
        warmup_t=2,
        warmup_lr_init=0.01 * 5e-4,
        by_epoch=False,
        begin=0,
        end=max_iters)
]
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
default_hooks = dict(
    checkpoint=dict(interval=max_iters, by_epoch=False),
    logger=dict(interval=1))
log_processor = dict(by_epoch=False)
