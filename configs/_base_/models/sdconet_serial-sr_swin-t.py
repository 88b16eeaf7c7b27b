# Serial baseline: an SR network (its own Swin-T encoder + the SDCoNet SR
# decoder) restores the x0.5 input, then DINO-Swin-T detects on the SR image.
_base_ = './sdconet_dino-degraded_swin-t.py'

model = dict(
    type='SerialSRDINO',
    sr_backbone=dict(
        type='SwinTransformerSR',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        drop_path_rate=0.2,
        out_indices=(1, 2, 3),
        convert_weights=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/SwinTransformer/storage/releases/'
            'download/v1.0.0/swin_tiny_patch4_window7_224.pth')),
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
    detach_sr=True)
