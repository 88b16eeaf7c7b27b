# IFKD on ShipRSImageNet: Faster R-CNN ResNet-50 teacher -> ResNet-18 student
# (FPN P2-P6; the RPN objectness is the distilled head). As the RetinaNet
# config with the Faster R-CNN detectors, mmdet's Faster R-CNN lr (0.02 for
# 16 images, auto-scaled) and the released two-stage EDE, G(M * T) without
# the residual teacher.
_base_ = './ifkd_retinanet_r50-r18_fpn_100e_shiprs.py'

model = dict(
    student='configs/ifkd/faster-rcnn_r18_fpn_100e_shiprs.py',
    teacher_config='configs/ifkd/faster-rcnn_r50_fpn_100e_shiprs.py',
    teacher_ckpt='work_dirs/faster-rcnn_r50_fpn_100e_shiprs/epoch_100.pth',
    distill_loss=dict(ede=dict(residual=False)))
optim_wrapper = dict(optimizer=dict(lr=0.02))
