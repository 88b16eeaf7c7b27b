# IFKD student backbones (ImageNet-pretrained) and the FPN input widths
# they need. A student config writes
#   model = dict(backbone={{_base_.resnet18}},
#                neck=dict(in_channels={{_base_.resnet18_channels}}))
resnet18 = dict(
    _delete_=True,
    type='ResNet',
    depth=18,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'))
resnet18_channels = [64, 128, 256, 512]

# stride-4/8/16/32 outputs: layer2 (24), layer3 (32), layer5 (96), conv2
# (1280); mmdet's MobileNetV2 indexes its seven stages 0-6 and the final
# 1x1 conv as 7.
mobilenetv2 = dict(
    _delete_=True,
    type='MobileNetV2',
    out_indices=(1, 2, 4, 7),
    act_cfg=dict(type='ReLU6'),
    norm_cfg=dict(type='BN', requires_grad=True),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='open-mmlab://mmdet/mobilenet_v2'))
mobilenetv2_channels = [24, 32, 96, 1280]
