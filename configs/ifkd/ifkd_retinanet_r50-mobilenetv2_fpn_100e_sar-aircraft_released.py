# Released mode: IFKD as Ningsui/IFKD computes it (single-stage): alpha 1e-4,
# beta 1e-3 on the channel-summed L_feat, FDR over (channel, height) with the
# shared complex filter and p = 0.5, released HSM (width-axis inner
# products, no map into the ball), EDE T + G(M * T) on levels 2-4. Checked
# number for number by `tools/analysis_tools/check_equivalence.py ifkd`.
_base_ = [
    './ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py',
    '../_base_/models/ifkd_modes.py'
]

model = dict(distill_loss={{_base_.ifkd_released}})
