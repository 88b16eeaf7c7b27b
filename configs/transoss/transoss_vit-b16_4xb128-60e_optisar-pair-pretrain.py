# TransOSS stage 1: symmetric InfoNCE pretraining on OptiSar_Pair.
# 4 GPUs x 64 pairs (128 images) = 256 pairs per step, as the released HEAD
# (bd9b902); negatives are in-batch (per GPU), as the released code. The
# pre-December-2025 batch (256 pairs per GPU) is the `4xb512` config.
_base_ = [
    '../_base_/datasets/hoss_optisar_pair.py',
    '../_base_/default_runtime.py',
]

# ImageNet ViT-B/16 of timm (`vit_base_p16_224-4e355ebd.pth`, the released
# PRETRAIN_PATH), a local file. Converted on load and loaded strictly: the
# SAR patch embedding starts as a copy of the optical one and the modality
# embedding keeps its random init, as in the release.
imagenet_vit = 'checkpoints/vit_base_p16_224-4e355ebd.pth'

model = dict(
    type='OptiSarContrastive',
    # ImageNet mean/std; in training, timm RandomErasing(mode='pixel') on
    # the normalised image (N(0, 1) noise), as released.
    data_preprocessor=dict(
        type='ReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        erasing=dict(prob=0.5, area_range=(0.02, 1 / 3))),
    backbone=dict(
        type='TransOSSViT',
        arch='base',
        img_size=(256, 128),
        patch_size=16,
        drop_path_rate=0.1,
        modality_embed_scale=3.0,
        with_size_token=False,
        interpolate_mode='bilinear',
        init_cfg=dict(
            type='Pretrained',
            checkpoint=imagenet_vit,
            converter='transoss',
            converter_cfg=dict(target='pretrain'),
            prefix='backbone.',
            allowed_missing=['modality_embed'])),
    loss=dict(type='SymmetricInfoNCELoss'),
    init_logit_scale=2.6592)  # ln(1 / 0.07)

max_epochs = 60
warmup_epochs = 5
base_lr = 0.003
# Released optimizer: SGD momentum 0.9, weight decay 1e-4, lr x2 for every
# parameter whose name contains 'bias' (norm biases included).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'bias': dict(lr_mult=2.0)}))
# Released scheduler: timm CosineLRScheduler stepped at the start of each
# epoch t = 1..60: warm-up from 0.01 x lr, cosine (not shifted by the
# warm-up) to 0.002 x lr; epoch 1 at 0.208 x lr, epoch 30 at 0.501 x lr.
param_scheduler = [
    dict(
        type='TimmCosineLR',
        t_initial=max_epochs,
        eta_min=0.002 * base_lr,
        warmup_t=warmup_epochs,
        warmup_lr_init=0.01 * base_lr,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=5),
    logger=dict(type='LoggerHook', interval=50))
randomness = dict(seed=1234)
auto_scale_lr = dict(enable=False, base_batch_size=512)
