"""Detection on one optical + SAR image pair (e.g. E2E-OSDet)."""
import copy
from typing import Tuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmengine.registry import init_default_scope
from torch import nn

# Pipeline steps that read or convert ground truth; a bare pair has none.
_GT_TRANSFORMS = ('LoadAnnotations', 'ConvertBoxType')


def inference_paired_detector(model: nn.Module, optical: str,
                              sar: str) -> Tuple[DetDataSample, np.ndarray]:
    """Run a paired detector on one co-registered optical / SAR pair.

    The pair goes through the model config's test pipeline (which must start
    with ``LoadPairedImages``) without its ground-truth steps.

    Args:
        model: A detector from :func:`mmdet.apis.init_detector` (it carries
            its config as ``model.cfg``).
        optical: Optical image file.
        sar: SAR image file (same size, co-registered).

    Returns:
        tuple: the prediction (``pred_instances`` in original-image pixels)
        and the loaded pair ``(H, W, C_opt + C_sar)`` with the optical bands
        in RGB order, ready for :class:`PairedDetLocalVisualizer`.
    """
    cfg = model.cfg
    init_default_scope(cfg.get('default_scope', 'mmosar'))
    steps = [
        step for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        if step['type'].split('.')[-1] not in _GT_TRANSFORMS
    ]
    if not steps or steps[0]['type'].split('.')[-1] != 'LoadPairedImages':
        raise ValueError('the test pipeline of the model config must start '
                         'with LoadPairedImages, got '
                         f'{[s["type"] for s in steps]}')
    loader, rest = Compose(steps[:1]), Compose(steps[1:])
    loaded = loader(dict(img_path=optical, sar_path=sar, img_id=0))
    pair = loaded['img'].copy()
    data = rest(copy.deepcopy(loaded))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        result = model.test_step(batch)[0]
    num_optical = loaded['modality_channels']['optical']
    if num_optical == 3:  # OpenCV reads BGR
        pair[..., :3] = pair[..., 2::-1]
    return result, pair
