# OptiSar_Pair (SEN1-2 + DFC23 optical/SAR pairs): TransOSS contrastive
# pretraining. One pair = one identity; an IdentitySampler with two instances
# per id gives batches of N optical + N SAR images of N pairs.
dataset_type = 'OptiSarPairDataset'
data_root = 'data/OptiSar_Pair/'
img_size = (256, 128)  # (h, w)

train_pipeline = [
    dict(type='LoadShipChip'),
    # Released: torchvision Resize(interpolation=3) on a PIL image, i.e.
    # PIL bicubic with antialiasing.
    dict(
        type='Resize',
        scale=(img_size[1], img_size[0]),
        keep_ratio=False,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=10),
    # Random erasing (timm, mode 'pixel') runs after normalisation, in the
    # model's ReIDDataPreprocessor.
    dict(
        type='mmpretrain.PackInputs',
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'modality')),
]

# Per GPU. Released HEAD (bd9b902): IMS_PER_BATCH 512 images over 4 GPUs =
# 64 pairs per GPU. Before the December 2025 fix: 256 pairs per GPU (see
# configs/transoss/README.md).
pairs_per_batch = 64
train_dataloader = dict(
    batch_size=2 * pairs_per_batch,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(
        type='IdentitySampler', num_ids=pairs_per_batch, num_instances=2),
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
