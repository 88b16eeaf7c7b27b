# M4-SAR with the released training augmentation (Ultralytics 8.3.8 fork):
# 4-image mosaic (p=1.0) on a 1024 x 1024 canvas, then RandomPerspective
# (scale 0.5-1.5 about the canvas centre, centred 512 x 512 crop translated
# by up to 10 %, degrees = shear = perspective = 0, grey fill (affine_fill);
# box outlines resampled to 100 points, clamped to the canvas, mapped,
# clipped, refitted with cv2.minAreaRect, filtered with box_candidates),
# horizontal flip, boxes in cv2.minAreaRect's encoding. Images without
# objects are kept. HSV: the release builds a 6-band jitter but never writes
# it back, so PairedRandomHSV is skipped here (skip_type_keys); the ablation
# e2e-osdet_yolo11s-obb_300e_m4sar_hsv.py turns it on with one key.
# The released recipe turns mosaic off for the last 10 epochs
# (close_mosaic=10): MixPipelineSwitchHook with `no_mosaic_pipeline` (the
# letterbox path of m4sar.py) does the same (mmdet's PipelineSwitchHook
# cannot switch a MultiImageMixDataset).
_base_ = ['./m4sar.py']

mosaic_train_pipeline = [
    dict(
        type='PairedMosaic',
        img_scale=(512, 512),
        pad_val=114.0,
        bbox_clip_border=False),
    dict(
        type='RandomCenteredAffine',
        translate=0.1,
        scale=0.5,
        border=(-256, -256),  # crop the 1024 canvas back to 512
        border_val={{_base_.affine_fill}},
        clip_input=True),  # the mosaic's clamp of the box outlines
    dict(
        type='PairedRandomHSV',
        hue_delta=0.015,
        saturation_gain=0.7,
        value_gain=0.4,
        value_gain_on_sar=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RegularizeRotatedBoxes', pattern='ultralytics'),
    dict(type='PackDetInputs', meta_keys={{_base_.meta_keys}})
]
no_mosaic_pipeline = {{_base_.no_mosaic_transforms}}

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        # the released 6-band HSV is a no-op (see above)
        skip_type_keys=('PairedRandomHSV', ),
        dataset=dict(
            type='M4SARDataset',
            data_root={{_base_.data_root}},
            split='train',
            layout='released',
            filter_cfg=dict(filter_empty_gt=False),
            pipeline=[
                dict(
                    type='LoadPairedImages',
                    sar_channels={{_base_.sar_channels}}),
                dict(type='LoadAnnotations', with_bbox=True, box_type='qbox')
            ]),
        pipeline=mosaic_train_pipeline))
