# Tiny CPU settings shared by the SDCoNet toy configs (tests, smoke runs;
# not for accuracy): a 1-1-1-1 Swin with 16 channels, one encoder and one
# decoder layer (mmdet's DINO decoder fixes the 256-d width), 20 queries,
# 128 px images (64 px after the x0.5 degradation), a DOTA-format folder.
toy_backbone = dict(
    embed_dims=16,
    depths=[1, 1, 1, 1],
    num_heads=[1, 1, 2, 2],
    window_size=4,
    drop_path_rate=0.0,
    init_cfg=None)
toy_neck = dict(in_channels=[32, 64, 128])
toy_encoder = dict(
    num_layers=1,
    layer_cfg=dict(ffn_cfg=dict(embed_dims=256, feedforward_channels=256)))
toy_salience_encoder = dict(
    toy_encoder,
    layer_keep_ratio=(1.0, ),
    layer_cfg=dict(toy_encoder['layer_cfg'], pre_attn_topk=10))
toy_decoder = dict(
    num_layers=1,
    layer_cfg=dict(ffn_cfg=dict(embed_dims=256, feedforward_channels=256)))
toy_dn_cfg = dict(group_cfg=dict(num_dn_queries=10))
toy_sr_decoder = dict(
    in_channels=(16, 16, 32, 64, 128),
    depths=(1, 1, 1, 1),
    num_heads=(2, 2, 1, 1),
    window_size=4,
    recon_channels=8,
    bottleneck_norm_cfg=dict(type='GN', num_groups=8))

toy_data_root = '../shared/data/dota_v1/'
toy_train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    batch_sampler=None,
    dataset=dict(
        data_root=toy_data_root,
        ann_file='labelTxt/',
        data_prefix=dict(img_path='images/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(128, 128), keep_ratio=True),
            dict(type='PackDetInputs')
        ]))
toy_val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=toy_data_root,
        ann_file='labelTxt/',
        data_prefix=dict(img_path='images/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(128, 128), keep_ratio=True),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                type='PackDetInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                           'scale_factor', 'instances'))
        ]))
