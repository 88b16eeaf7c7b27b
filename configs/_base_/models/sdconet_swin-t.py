# SDCoNet: the degraded-input DINO + saliency-driven query selection + the
# train-time-only SR decoder on the shared Swin-T encoder.
_base_ = './sdconet_dino-degraded_swin-t.py'

model = dict(
    type='SDCoNet',
    backbone=dict(type='SwinTransformerSR'),
    encoder=dict(
        # Share of the selected tokens each encoder layer updates; the
        # released code keeps all (Salience-DETR: 1, .8, .6, .6, .4, .2).
        layer_keep_ratio=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        layer_cfg=dict(
            pre_attn_topk=100, pre_attn_cfg=dict(num_heads=8, dropout=0.0))),
    salience_scorer=dict(
        type='CoarseToFineSalience',
        predictor=dict(type='SaliencePredictor', embed_dims=256),
        fixed_alpha=None),
    salience_loss=dict(
        type='SalienceFocalLoss', alpha=0.25, gamma=2.0, loss_weight=2.0),
    salience_level_ranges=((-1, 64), (64, 128), (128, 256), (256, 1e8)),
    # Share of the valid tokens selected per level; the released code keeps
    # all (Salience-DETR: .4, .8, 1, 1).
    level_keep_ratio=(1.0, 1.0, 1.0, 1.0),
    sr_decoder=dict(
        type='SwinSRDecoder',
        in_channels=(96, 96, 192, 384, 768),
        upscale=2,
        patch_size=4,
        depths=(2, 6, 2, 2),
        num_heads=(6, 12, 6, 3),
        window_size=8,
        mlp_ratio=2.,
        recon_channels=32),
    sr_loss=dict(type='L1Loss', loss_weight=5.0),
    sr_enabled=True,
    sr_encoder_grad_scale=1.0)
