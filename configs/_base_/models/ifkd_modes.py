# The two other IFKD modes as `distill_loss` replacements. A config selects
# one with
#   _base_ = ['./<an IFKD config>.py', '../_base_/models/ifkd_modes.py']
#   model = dict(distill_loss={{_base_.ifkd_released}})
# (or {{_base_.ifkd_paper}}).

# What the released code (Ningsui/IFKD d49e672) computes, checked against
# its arithmetic by `tools/analysis_tools/check_equivalence.py ifkd`. The
# released single-stage EDE adds the teacher back (residual); the two-stage
# one does not: Faster R-CNN configs set ede=dict(residual=False).
ifkd_released = dict(
    _delete_=True,
    type='IFKDDistillLoss',
    alpha=1e-4,
    beta=1e-3,
    num_levels=5,
    student_channels=256,
    teacher_channels=256,
    adapter='shared',
    fdr_levels=(0, 1),
    ede_levels=(2, 3, 4),
    fdr=dict(impl='released', ratio=0.1, p=0.5),
    ede=dict(residual=True, combine='multiply', binarize=True),
    use_hsm=True,
    hsm=dict(impl='released', curvature=1.0, eps=1e-5),
    hsm_input='raw',
    feat_norm='mask_sum')

# The paper's eq. 12 on every level: EDE perturbs the teacher feature
# (eq. 1: T + Resize(sigmoid(MobileSAM(x))), no generator), FDR refines the
# teacher and the adapted student (eqs. 3-8, fixed filter), HSM weights the
# locations by the distance of the refined pair (Fig. 2 order; features
# scaled into the ball), L_feat / C; alpha 0.06, beta 0.5.
ifkd_paper = dict(
    _delete_=True,
    type='IFKDDistillLoss',
    alpha=0.06,
    beta=0.5,
    num_levels=5,
    student_channels=256,
    teacher_channels=256,
    adapter='shared',
    fdr_levels=(0, 1, 2, 3, 4),
    ede_levels=(0, 1, 2, 3, 4),
    fdr=dict(impl='paper', ratio=0.1, p=1.0, filter='fixed'),
    ede=dict(combine='add', generator=False),
    use_hsm=True,
    hsm=dict(impl='paper', curvature=1.0, ball_map='scale'),
    hsm_input='reconstructed',
    feat_norm='mask_sum_channel_mean')

# The released two-stage detector: EDE without the residual teacher, G(M * T).
ifkd_released_two_stage = dict(
    ifkd_released,
    ede=dict(residual=False, combine='multiply', binarize=True))
