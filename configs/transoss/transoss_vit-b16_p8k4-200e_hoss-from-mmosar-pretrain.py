# TransOSS stage 2 starting from mmosar's own stage-1 checkpoint (the whole
# OptiSarContrastive model; only `backbone.*` is used, `logit_scale` is
# dropped), loaded strictly; the size token starts at random.
_base_ = ['./transoss_vit-b16_p8k4-200e_hoss.py']

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='work_dirs/transoss_vit-b16_4xb128-60e_optisar-pair-'
            'pretrain/epoch_60.pth',
            prefix='backbone.',
            allowed_missing=['size_embed.*'])))
