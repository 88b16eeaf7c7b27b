# IFKD on SAR-AIRcraft-1.0: RetinaNet ResNet-50 teacher -> ResNet-18 student
# (mmosar mode: paper alpha 0.06, beta 0.5, released split FDR on P3-P4 and EDE
# on P5-P7, HSM everywhere;
# the RetinaNet classification head is distilled). Train the teacher first:
#   python tools/train.py configs/ifkd/retinanet_r50_fpn_100e_sar-aircraft.py
# cache the EDE masks once (MobileSAM weights: mobile_sam.pt):
#   python tools/ifkd/cache_ede_masks.py configs/ifkd/<this file> \
#       --checkpoint mobile_sam.pt
# then train this config. Run from the repository root (config paths below).
_base_ = [
    '../_base_/models/ifkd_distiller.py',
    '../_base_/datasets/sar_aircraft.py',
    '../_base_/schedules/ifkd_retinanet_schedule_100e.py',
    '../_base_/ifkd_runtime.py'
]

model = dict(
    student='configs/ifkd/retinanet_r18_fpn_100e_sar-aircraft.py',
    teacher_config='configs/ifkd/retinanet_r50_fpn_100e_sar-aircraft.py',
    teacher_ckpt='work_dirs/retinanet_r50_fpn_100e_sar-aircraft/epoch_100.pth')

ede_mask_dir = 'data/SAR-AIRcraft-1.0/ede_masks_mobile_sam/'
train_dataloader = dict(
    dataset=dict(
        ede_mask_dir=ede_mask_dir, pipeline={{_base_.ifkd_train_pipeline}}))
