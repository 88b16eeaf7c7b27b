# HOSS ReID (optical <-> SAR ship re-identification), TransOSS recipe.
# Train: P x K identity batches. Test: one run over the ALL, O2S and S2O
# query/gallery folders; CrossModalReIDMetric reports each protocol.
dataset_type = 'HOSSDataset'
data_root = 'data/HOSS/'
img_size = (256, 128)  # (h, w)

# Ship-size vector (SSE input), computed from the chip size before resizing:
# metres = pixels x pixel size; released TransOSS constants for HOSS.
ship_size = dict(
    type='ShipSizeVector',
    optical_gsd=0.75,
    sar_gsd=1.0,
    size_norm=(93., 427.),
    mean=(0.434, 0.461),
    std=(0.031, 0.031))
meta_keys = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'modality',
             'ship_size', 'role', 'protocol')

train_pipeline = [
    dict(type='LoadShipChip'),
    ship_size,
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
    dict(type='mmpretrain.PackInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadShipChip'),
    ship_size,
    # Released: torchvision Resize() on a PIL image, i.e. PIL bilinear with
    # antialiasing.
    dict(
        type='Resize',
        scale=(img_size[1], img_size[0]),
        keep_ratio=False,
        backend='pillow',
        interpolation='bilinear'),
    dict(type='mmpretrain.PackInputs', meta_keys=meta_keys),
]

num_ids_per_batch = 8  # P
num_instances = 4  # K
train_dataloader = dict(
    batch_size=num_ids_per_batch * num_instances,  # must equal P x K
    num_workers=8,
    persistent_workers=True,
    sampler=dict(
        type='IdentitySampler',
        num_ids=num_ids_per_batch,
        num_instances=num_instances),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        protocols=('ALL', 'O2S', 'S2O'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CrossModalReIDMetric',
    rank_list=(1, 5, 10),
    max_rank=50,
    filter_same_modality=False)
test_evaluator = val_evaluator
