# M4-SAR optical + SAR oriented detection, released layout, 512 x 512 pairs
# (Wang et al., M4-SAR). A paired sample is one multi-band image: optical
# (3 bands, BGR) then SAR. SAR is kept as 3 bands (grey replicated), so the
# network sees the 6-channel input of the released E2E-OSDet code; set
# `sar_channels=1` in both LoadPairedImages to feed a single SAR band.
# Pair with a model whose data_preprocessor is PairedDetDataPreprocessor,
# e.g. the released scaling (divide by 255, no mean/std):
#   dict(type='PairedDetDataPreprocessor', mean=dict(optical=[0], sar=[0]),
#        std=dict(optical=[255], sar=[255]), bgr_to_rgb=True,
#        pad_size_divisor=32, boxtype2tensor=False)
# Draw samples with visualizer=dict(type='PairedDetLocalVisualizer', ...).
# This base is the released no-mosaic path (Ultralytics LetterBox +
# RandomPerspective: random scale 0.5-1.5 about the image centre, centred
# crop translated by up to 10 %, grey fill `affine_fill`; boxes resampled,
# clipped, refitted and filtered as in the release), horizontal flip, boxes
# in the release's cv2.minAreaRect encoding. No HSV: the release's 6-band
# HSV branch never writes its result back. The released recipe's mosaic is
# in m4sar_mosaic.py.
dataset_type = 'M4SARDataset'
data_root = 'data/M4-SAR/'
img_size = 512
backend_args = None
sar_channels = 3
# fill of the random affine: OpenCV applies the release's borderValue
# (114, 114, 114) to a 6-band image as (114, 114, 114, 0, 114, 114): the
# first SAR band is padded with 0. Use 114 for a uniform grey.
affine_fill = (114, 114, 114, 0, 114, 114)
meta_keys = ('img_id', 'img_path', 'sar_path', 'ori_shape', 'img_shape',
             'scale_factor', 'flip', 'flip_direction', 'modality_channels',
             'resolution', 'polarization')

# shared by the mosaic base (after its pair loading) and the last epochs
# of the released recipe (close_mosaic)
no_mosaic_transforms = [
    # keep-ratio resize; the affine's centred output_size is the letterbox
    dict(
        type='Resize',
        scale=(img_size, img_size),
        keep_ratio=True,
        clip_object_border=False),
    dict(
        type='RandomCenteredAffine',
        translate=0.1,
        scale=0.5,
        output_size=(img_size, img_size),
        border_val=affine_fill),
    # optional per-modality jitter; in the released recipe it is skipped
    # (MultiImageMixDataset skip_type_keys), see m4sar_mosaic.py
    dict(
        type='PairedRandomHSV',
        hue_delta=0.015,
        saturation_gain=0.7,
        value_gain=0.4,
        value_gain_on_sar=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RegularizeRotatedBoxes', pattern='ultralytics'),
    dict(type='PackDetInputs', meta_keys=meta_keys)
]
train_pipeline = [
    dict(
        type='LoadPairedImages',
        sar_channels=sar_channels,
        backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
] + [t for t in no_mosaic_transforms if t['type'] != 'PairedRandomHSV']
test_pipeline = [
    dict(
        type='LoadPairedImages',
        sar_channels=sar_channels,
        backend_args=backend_args),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    # Annotations after Resize: ground truth stays in original pixels, as
    # the metrics expect.
    dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='PackDetInputs', meta_keys=meta_keys)
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        layout='released',
        # the release trains on images without objects too
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        layout='released',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        layout='released',
        test_mode=True,
        pipeline=test_pipeline))

# M4-SAR protocol (ProbIoU, 101-point AP at 0.50:0.95, keys m4sar/AP50,
# m4sar/AP75, m4sar/mAP) plus the DOTA / mmrotate protocol (dota/mAP).
val_evaluator = [
    dict(type='M4SARMetric'),
    dict(type='DOTAMetric', eval_mode='area')
]
test_evaluator = val_evaluator
