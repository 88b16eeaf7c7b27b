# E2E-OSDet (M4-SAR, Wang et al.) at YOLO11 scale s: FAM + two YOLO11
# streams with CMIM at P3/P4/P5 + AFM fusion + C2PSA (TwoStreamBackbone),
# YOLO11 PAN (YOLO11PAFPN) and the YOLO11 OBB head (YOLOOBBHead: DFL box
# branch, depthwise class branch, one angle channel; loss 0.5 BCE + 7.5
# ProbIoU + 1.5 DFL with the rotated task-aligned assigner).
# Input: optical RGB (3 bands) then SAR (3 bands, grey replicated), divided
# by 255 without mean/std as in the released code (FAM expects [0, 1]).
num_classes = 6
modality_channels = dict(optical=3, sar=3)

model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='PairedDetDataPreprocessor',
        mean=dict(optical=[0.0], sar=[0.0]),
        std=dict(optical=[255.0], sar=[255.0]),
        modality_channels=modality_channels,
        bgr_to_rgb=True,
        pad_size_divisor=32,
        boxtype2tensor=False),
    backbone=dict(
        type='TwoStreamBackbone',
        arch='s',
        modality_channels=modality_channels,
        use_fam=True,
        use_cmim=True,
        cmim_d_states=(16, 16, 32),
        use_afm=True),
    neck=dict(type='YOLO11PAFPN', in_channels=(256, 256, 512), arch='s'),
    bbox_head=dict(
        type='YOLOOBBHead',
        num_classes=num_classes,
        in_channels=(128, 256, 512),
        strides=(8, 16, 32),
        reg_max=16,
        dfl_target_frame='box',
        assigner=dict(
            type='RotatedTaskAlignedAssigner', topk=10, alpha=0.5, beta=6.0),
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=0.5),
        loss_bbox=dict(
            type='ProbIoULoss', mode='l1', reduction='mean', loss_weight=7.5),
        loss_dfl=dict(
            type='DistributionFocalLoss', reduction='mean', loss_weight=1.5)),
    train_cfg=None,
    test_cfg=dict(
        score_thr=0.001,
        nms_pre=30000,
        nms=dict(type='nms_rotated', iou_threshold=0.7),
        max_per_img=300))
