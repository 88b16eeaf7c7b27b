# CMPC coarse search module: shared ResNet-50 (last stride 1), global max
# pooling, 2048-d retrieval feature, 512-d projection for the losses,
# cross-modal triplet (margin 0.5) + Wasserstein critic (5 steps, lambda 0.01).
# SAR and optical go through the network as one joint batch (BatchNorm
# statistics of both modalities together), as in the paper and the release.
model = dict(
    type='CMPCEmbedder',
    data_preprocessor=dict(
        type='RetrievalDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',  # mmdet's; BN trained (norm_eval=False) as in CMPC
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 2, 1),
        norm_eval=False,
        init_cfg=None),
    # ImageNet weights, loaded strictly (only torchvision's classifier fc.*
    # may be left over); a released CMPC checkpoint can be given instead
    # with module='' and prefix='embedder.' (allowed_missing=['critic.*']).
    pretrained=[
        dict(
            module='backbone',
            checkpoint='torchvision://resnet50',
            allowed_unexpected=['fc.*'])
    ],
    head=dict(
        type='CrossModalEmbeddingHead',
        in_channels=2048,
        proj_channels=512,
        loss=dict(type='CrossModalTripletLoss', margin=0.5)),
    critic=dict(
        type='ModalityWassersteinCritic',
        in_channels=512,
        hidden_channels=512,
        clip_value=0.1,
        hard_fraction=0.5),
    adversarial_weight=0.01,
    critic_steps=5,
    joint_batch=True)
