# TransOSS: ViT-B/16 at 256x128 (16x8 patches) with the cross-modal dual-head
# tokenizer, modality embedding (x3.0) and ship-size token, BNNeck head with
# identity CE + soft-margin batch-hard triplet.
model = dict(
    type='TransOSS',
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
        with_size_token=True,
        interpolate_mode='bilinear'),
    head=dict(
        type='BNNeckHead',
        in_channels=768,
        # Number of ship ids in bounding_box_train (HOSSDataset logs it);
        # required, e.g. --cfg-options model.head.num_classes=N.
        num_classes=None,
        loss_cls=dict(type='CrossEntropyLoss', loss_weight=1.0),
        loss_triplet=dict(
            type='BatchHardTripletLoss', margin=None, loss_weight=1.0),
        test_feature='before_bn'))
