# TransOSS stage 1: symmetric InfoNCE pretraining on OptiSar_Pair.
# 4 GPUs x 64 pairs (128 images) = 256 pairs per step, as the paper;
# negatives are in-batch (per GPU), as the released code.
_base_ = [
    '../_base_/datasets/hoss_optisar_pair.py',
    '../_base_/default_runtime.py',
]

# ImageNet ViT-B/16 (timm `vit_base_p16_224-4e355ebd.pth` or an mmpretrain
# ViT-B/16 checkpoint with prefix='backbone.'), a local file.
imagenet_vit = 'checkpoints/vit_base_p16_224-4e355ebd.pth'

model = dict(
    type='OptiSarContrastive',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='TransOSSViT',
        arch='base',
        img_size=(256, 128),
        patch_size=16,
        drop_path_rate=0.1,
        modality_embed_scale=3.0,
        with_size_token=False,
        interpolate_mode='bilinear',
        init_cfg=dict(type='Pretrained', checkpoint=imagenet_vit)),
    loss=dict(type='SymmetricInfoNCELoss'),
    init_logit_scale=2.6592)  # ln(1 / 0.07)

max_epochs = 60
warmup_epochs = 5
base_lr = 0.003
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=warmup_epochs),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=0.002,
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs),
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
