"""Released IFKD weights (``Ningsui/IFKD``, mmdet 2.x) to mmosar names.

The released detectors (``IFKDSingleStageDetector``,
``IFKDTwoStageDetector``) hold seven distillation tensors beside the student
detector and the teacher (a registered submodule there):

==================================  =========================================
released                            :class:`~.ifkd_loss.IFKDDistillLoss`
==================================  =========================================
``stu_feature_adap.conv.{w,b}``     ``adapters.0.{weight,bias}`` (shared)
``generation.{0,2}.{weight,bias}``  ``ede.generator.{0,2}.{weight,bias}``
``complex_weight`` ``(1, C, 2)``    ``fdr.filter_weight`` (``impl='released'``)
==================================  =========================================

Conversion is strict: a key that is neither one of these, a ``teacher.*``
key (dropped: mmosar keeps the teacher out of the checkpoint) nor a student
key is an error, and so is a missing distillation tensor.
"""
from typing import Dict, Mapping, Tuple

from torch import Tensor

from mmosar.utils.checkpoint import StateDictMismatchError

#: released name -> name inside IFKDDistillLoss
DISTILL_KEYS: Dict[str, str] = {
    'stu_feature_adap.conv.weight': 'adapters.0.weight',
    'stu_feature_adap.conv.bias': 'adapters.0.bias',
    'generation.0.weight': 'ede.generator.0.weight',
    'generation.0.bias': 'ede.generator.0.bias',
    'generation.2.weight': 'ede.generator.2.weight',
    'generation.2.bias': 'ede.generator.2.bias',
    'complex_weight': 'fdr.filter_weight',
}
#: the student detector's top-level modules in the released checkpoints
STUDENT_MODULES = ('backbone', 'neck', 'bbox_head', 'rpn_head', 'roi_head')


def convert_ifkd_distill_weights(
        state_dict: Mapping[str, Tensor],
        source: str = '<state_dict>') -> Dict[str, Tensor]:
    """The seven released distillation tensors in
    :class:`~.ifkd_loss.IFKDDistillLoss` names.

    Raises:
        StateDictMismatchError: a key is not one of the seven, or one of
            them is missing (both listed, with ``source``).
    """
    missing = sorted(set(DISTILL_KEYS) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(DISTILL_KEYS))
    if missing or unexpected:
        raise StateDictMismatchError(
            f'{source}: not the released IFKD distillation weights; '
            f'missing {missing}, unexpected {unexpected}')
    return {DISTILL_KEYS[k]: v for k, v in state_dict.items()}


def convert_ifkd_checkpoint(
    state_dict: Mapping[str, Tensor],
    source: str = '<state_dict>'
) -> Tuple[Dict[str, Tensor], Dict[str, int]]:
    """A whole released IFKD detector state dict in
    :class:`~.ifkd_distiller.IFKDDistiller` names.

    ``backbone.*``, ``neck.*`` and the heads become ``student.*``, the seven
    distillation tensors ``distill_loss.*``; ``teacher.*`` is dropped.

    Returns:
        ``(converted, counts)`` with ``counts`` the number of student,
        distillation and dropped teacher tensors.

    Raises:
        StateDictMismatchError: unknown keys, or missing distillation
            tensors (listed, with ``source``).
    """
    distill = {k: v for k, v in state_dict.items() if k in DISTILL_KEYS}
    student, teacher, unknown = {}, 0, []
    for key, value in state_dict.items():
        if key in DISTILL_KEYS:
            continue
        root = key.split('.', 1)[0]
        if root == 'teacher':
            teacher += 1
        elif root in STUDENT_MODULES:
            student['student.' + key] = value
        else:
            unknown.append(key)
    if unknown:
        raise StateDictMismatchError(
            f'{source}: keys that are neither student ({STUDENT_MODULES}), '
            f'teacher nor IFKD distillation weights: {sorted(unknown)}')
    converted = dict(student)
    converted.update({
        'distill_loss.' + k: v
        for k, v in convert_ifkd_distill_weights(distill, source).items()
    })
    return converted, dict(
        student=len(student), distill=len(distill), teacher=teacher)
