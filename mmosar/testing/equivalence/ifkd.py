"""IFKD released mode against the ``ifkd`` fixture (``Ningsui/IFKD``).

The fixture holds what the released ``forward_train`` distillation computes
(FDR on levels 0-1, EDE on 2-4, HSM masks, head BCE) on fixed teacher and
student pyramids, for the single-stage (EDE with residual) and two-stage
(no residual) variants, two input scales (A: uniform [0, 1), saturating the
released HSM; B: [-20, 20)) and the four FDR edit/skip combinations of the
teacher and student calls. The released EDE does not run as shipped; its
numbers come from the fixture's minimal repair (mask resized to (H, W)),
which is what :class:`~mmosar.models.distillers.ExternalDisturbanceEnhancement`
does.

Here the seven released tensors are converted with
:func:`~mmosar.models.distillers.convert_ifkd_distill_weights`, loaded
strictly into :class:`~mmosar.models.distillers.IFKDDistillLoss` built with
:data:`RELEASED_DISTILL_LOSS`, cast to float64, and every stored array is
compared (float64, 1e-6 relative).
"""
from typing import Dict, Tuple

import torch

from mmosar.utils.checkpoint import load_state_dict_strict

from . import EquivalenceReport, Fixture

#: IFKDDistillLoss settings of the released code (the ``_released`` configs
#: use them: ``ifkd_released`` in configs/_base_/models/ifkd_modes.py)
RELEASED_DISTILL_LOSS = dict(
    alpha=1e-4,
    beta=1e-3,
    num_levels=5,
    adapter='shared',
    fdr_levels=(0, 1),
    ede_levels=(2, 3, 4),
    fdr=dict(impl='released', ratio=0.1, p=0.5),
    ede=dict(combine='multiply', binarize=True),
    use_hsm=True,
    hsm=dict(impl='released', curvature=1.0, eps=1e-5),
    hsm_input='raw',
    feat_norm='mask_sum')
#: EDE residual of the released single-stage / two-stage detector
VARIANTS = {'single': (True, 63), 'two': (False, 3)}
SCENARIOS = {'A': (0.0, 1.0), 'B': (-20.0, 20.0)}
COMBOS = {
    'TapplySapply': (True, True),
    'TapplySskip': (True, False),
    'TskipSapply': (False, True),
    'TskipSskip': (False, False),
}
SIZES = (32, 16, 8, 4, 2)
BATCH, CHANNELS = 2, 256
GRAD_KEYS = {
    'complex_weight': 'fdr.filter_weight',
    'stu_feature_adap.conv.bias': 'adapters.0.bias',
    'generation.0.bias': 'ede.generator.0.bias',
    'generation.2.bias': 'ede.generator.2.bias',
}


def build_released(fixture: Fixture, residual: bool):
    """Released-mode IFKDDistillLoss with the fixture's weights, float64."""
    from mmosar.models.distillers import (
        IFKDDistillLoss,
        convert_ifkd_distill_weights,
    )
    cfg = dict(RELEASED_DISTILL_LOSS)
    cfg['ede'] = dict(cfg['ede'], residual=residual)
    model = IFKDDistillLoss(**cfg, student_channels=CHANNELS,
                            teacher_channels=CHANNELS)
    weights = convert_ifkd_distill_weights(fixture.released_state_dict(),
                                           f'{fixture.root}/manifest.json')
    load_state_dict_strict(model, weights, f'{fixture.root}/manifest.json')
    return model.double().train()


def pyramids(fixture: Fixture, scenario: str,
             variant: str) -> Tuple[list, list, list, list]:
    """Teacher / student features and class logits of the recipe."""
    low, high = SCENARIOS[scenario]
    make = fixture.recipe.make_input
    channels = VARIANTS[variant][1]
    t_feats, s_feats, t_cls, s_cls = [], [], [], []
    for lvl, size in enumerate(SIZES):
        shape = (BATCH, CHANNELS, size, size)
        t_feats.append(make(f'ifkd/teacher/p{lvl}', shape, low, high))
        s_feats.append(make(f'ifkd/student/p{lvl}', shape, low, high))
        cls_shape = (BATCH, channels, size, size)
        t_cls.append(
            make(f'ifkd/{variant}/teacher_cls/p{lvl}', cls_shape, -4, 4))
        s_cls.append(
            make(f'ifkd/{variant}/student_cls/p{lvl}', cls_shape, -4, 4))
    return t_feats, s_feats, t_cls, s_cls


def run_levels(model, inputs, mask, edits) -> Dict[int, Dict]:
    """``level_terms`` of every level with forced FDR edits."""
    t_feats, s_feats, t_cls, s_cls = inputs
    return {
        lvl: model.level_terms(lvl, t_feats[lvl], t_cls[lvl], s_feats[lvl],
                               s_cls[lvl], mask, fdr_edit=edits)
        for lvl in range(len(SIZES))
    }


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    """Compare every array of ``outputs.npz``."""
    from mmosar.models.distillers import (
        ExternalDisturbanceEnhancement,
        released_hsm_distance,
    )
    from mmosar.models.distillers.hsm import ClampedArtanh
    make = fixture.recipe.make_input
    mask = make('ifkd/mask', (BATCH, 1, 128, 128)) > 0.5
    report.compare('ede_mask_input', mask, fixture['ede_mask_input'])
    for lvl in (2, 3, 4):
        report.compare(
            f'ede_mask_resized_l{lvl}',
            ExternalDisturbanceEnhancement.resize_mask(
                mask.double(), (SIZES[lvl], SIZES[lvl])),
            fixture[f'ede_mask_resized_l{lvl}'])

    for variant, (residual, _) in VARIANTS.items():
        model = build_released(fixture, residual)
        for scen in SCENARIOS:
            inputs = pyramids(fixture, scen, variant)
            for combo, edits in COMBOS.items():
                model.zero_grad()
                terms = run_levels(model, inputs, mask, edits)
                feat = torch.stack([terms[lvl]['feat'] for lvl in terms])
                head = torch.stack([terms[lvl]['head'] for lvl in terms])
                prefix = f'{scen}/{variant}/{combo}'
                report.compare(f'{prefix}/feat_loss_per_level', feat,
                               fixture[f'{prefix}/feat_loss_per_level'])
                report.compare(f'{prefix}/cls_loss_per_level', head,
                               fixture[f'{prefix}/cls_loss_per_level'])
                total_feat = model.alpha * feat.sum()
                total_cls = model.beta * head.sum()
                report.compare(f'{prefix}/distill_feat_loss', total_feat,
                               fixture[f'{prefix}/distill_feat_loss'])
                report.compare(f'{prefix}/distill_cls_loss', total_cls,
                               fixture[f'{prefix}/distill_cls_loss'])
                if combo != 'TapplySapply':
                    continue
                for lvl in terms:
                    report.compare(f'{scen}/{variant}/frs_mask_l{lvl}',
                                   terms[lvl]['frs'],
                                   fixture[f'{scen}/{variant}/frs_mask_l{lvl}'])
                    if variant == 'single':
                        report.compare(f'{scen}/hsm_mask_l{lvl}',
                                       terms[lvl]['hsm'],
                                       fixture[f'{scen}/hsm_mask_l{lvl}'])
                if scen != 'A':
                    continue
                report.compare(f'A/{variant}/ede_out_l2',
                               terms[2]['teacher'],
                               fixture[f'A/{variant}/ede_out_l2'])
                if variant == 'single':
                    for side in ('teacher', 'student'):
                        report.compare(f'A/single/fdr_{side}_out_l1',
                                       terms[1][side],
                                       fixture[f'A/single/fdr_{side}_out_l1'])
                    report.compare('A/single/adapted_student_l2',
                                   terms[2]['adapted'],
                                   fixture['A/single/adapted_student_l2'])
                (total_feat + total_cls).backward()
                params = dict(model.named_parameters())
                for released, name in GRAD_KEYS.items():
                    key = f'A/{variant}/grad_total/{released}'
                    report.compare(key, params[name].grad, fixture[key])

    for amp in (0.01, 0.03, 3.0):
        shape = (BATCH, CHANNELS, 16, 16)
        x = make('ifkd/hsm/x', shape, -amp, amp).requires_grad_(True)
        y = make('ifkd/hsm/y', shape, -amp, amp)
        dist = released_hsm_distance(x, y)
        report.compare(f'hsm_pairs/amp{amp}/dist', dist,
                       fixture[f'hsm_pairs/amp{amp}/dist'])
        key = f'hsm_pairs/amp{amp}/grad_x_of_sum'
        if key in fixture:
            dist.sum().backward()
            report.compare(key, x.grad, fixture[key])
    report.compare(
        'const/hsm_saturation_value',
        2 * ClampedArtanh.apply(torch.tensor(1.0, dtype=torch.float64), 1e-5),
        fixture['const/hsm_saturation_value'])
