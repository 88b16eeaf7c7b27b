# M4-SAR with the released training augmentation: 4-image mosaic (p=1.0) on
# a 1024 x 1024 canvas, then random scale 0.5-1.5 and translation 0.1 back
# to 512 x 512 (Ultralytics RandomPerspective with degrees = shear =
# perspective = 0), HSV jitter, horizontal flip. The released recipe turns
# mosaic off for the last 10 epochs (close_mosaic=10): add mmosar's
# MixPipelineSwitchHook in the schedule to do the same (mmdet's
# PipelineSwitchHook cannot switch a MultiImageMixDataset).
_base_ = ['./m4sar.py']

mosaic_train_pipeline = [
    dict(type='PairedMosaic', img_scale=(512, 512), pad_val=114.0),
    dict(
        type='PairedRandomAffine',
        max_rotate_degree=0,
        max_shear_degree=0,
        max_translate_ratio=0.1,
        scaling_ratio_range=(0.5, 1.5),
        border=(-256, -256),  # crop the 1024 canvas back to 512
        border_val=114),
    dict(
        type='PairedRandomHSV',
        hue_delta=0.015,
        saturation_gain=0.7,
        value_gain=0.4,
        value_gain_on_sar=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackDetInputs', meta_keys={{_base_.meta_keys}})
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(
            type='M4SARDataset',
            data_root={{_base_.data_root}},
            split='train',
            layout='released',
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=[
                dict(
                    type='LoadPairedImages',
                    sar_channels={{_base_.sar_channels}}),
                dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
                dict(
                    type='ConvertBoxType',
                    box_type_mapping=dict(gt_bboxes='rbox'))
            ]),
        pipeline=mosaic_train_pipeline))
