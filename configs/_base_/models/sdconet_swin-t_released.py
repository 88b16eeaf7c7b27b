# SDCoNet with the released arithmetic (qiruo-ya/SDCoNet@3db3392): every
# encoder layer's deformable attention reads the backbone tokens and adds the
# query twice, LN(2q + pos + attn); the pre-attention takes the top-100 of
# max(class head) x saliency; the SR decoder reads its bottleneck with
# view(B, -1, C) and adds SwinIR's RGB mean; SR drop-path 0.1 (SRNet
# default). Reproduces tools/analysis_tools/check_equivalence.py sdconet.
_base_ = './sdconet_swin-t.py'

model = dict(
    encoder=dict(
        value_from_input=True,
        pre_attn_class_ranking=True,
        layer_cfg=dict(double_residual=True)),
    sr_decoder=dict(
        bottleneck_layout='view',
        output_offset=(0.4488, 0.4371, 0.4040),
        drop_path_rate=0.1))
