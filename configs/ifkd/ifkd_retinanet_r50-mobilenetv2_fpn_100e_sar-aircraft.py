# IFKD on SAR-AIRcraft-1.0: RetinaNet ResNet-50 teacher -> MobileNetV2 student.
_base_ = './ifkd_retinanet_r50-r18_fpn_100e_sar-aircraft.py'

model = dict(student='configs/ifkd/retinanet_mobilenetv2_fpn_100e_sar-aircraft.py')
