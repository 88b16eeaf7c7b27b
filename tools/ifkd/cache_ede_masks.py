"""Precompute IFKD's EDE masks once per training image.

``python tools/ifkd/cache_ede_masks.py IFKD_CONFIG --checkpoint mobile_sam.pt``

For each image of ``train_dataloader.dataset`` the frozen external model
(MobileSAM ``vit_t`` by default) predicts a prompt-free mask; its
probability ``sigmoid(logits)``, resized to the original image size, is
written as an 8-bit PNG ``<out-dir>/<img_id>.png`` (value = round(255 p)).
Training with ``ede_mask_source='cache'`` reads them through the dataset's
``ede_mask_dir`` and ``LoadAnnotations(with_seg=True)``, so the geometric
augmentations move masks and images together.
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction

from mmosar.registry import DATASETS, MODELS
from mmosar.utils import register_all_modules

# ImageNet statistics: the detector's and SAM's input normalisation
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='IFKD config (train dataset)')
    parser.add_argument(
        '--checkpoint', help='external model weights (mobile_sam.pt)')
    parser.add_argument(
        '--out-dir',
        help='output folder (default: the config\'s '
        'train_dataloader.dataset.ede_mask_dir)')
    parser.add_argument(
        '--external-model',
        default='MobileSAMMaskPredictor',
        help='registered external model type')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--overwrite', action='store_true', help='redo existing masks')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys')
    return parser.parse_args()


def image_tensor(path: str) -> torch.Tensor:
    """``(1, 3, H, W)`` RGB image normalised with ImageNet mean/std."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32)
    return torch.from_numpy((rgb - MEAN) / STD).permute(2, 0, 1)[None]


@torch.no_grad()
def mask_probability(model: torch.nn.Module,
                     image: torch.Tensor) -> np.ndarray:
    """External-model foreground probability at the image size, uint8."""
    prob = model(image).sigmoid()
    prob = F.interpolate(
        prob, size=image.shape[-2:], mode='bilinear', align_corners=False)
    return (prob[0, 0].clamp(0, 1) * 255).round().byte().cpu().numpy()


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    ds_cfg = cfg.train_dataloader.dataset.copy()
    out_dir = args.out_dir or ds_cfg.get('ede_mask_dir')
    if not out_dir:
        raise SystemExit('give --out-dir or set train_dataloader.dataset.'
                         'ede_mask_dir in the config')
    ds_cfg.update(ede_mask_dir=None, pipeline=[])
    dataset = DATASETS.build(ds_cfg)
    ext_cfg = dict(type=args.external_model)
    if args.checkpoint:
        ext_cfg['checkpoint'] = args.checkpoint
    model = MODELS.build(ext_cfg).to(args.device).eval()
    os.makedirs(out_dir, exist_ok=True)
    done = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        out = osp.join(out_dir, f'{info["img_id"]}.png')
        if osp.exists(out) and not args.overwrite:
            continue
        mask = mask_probability(model,
                                image_tensor(info['img_path']).to(args.device))
        if not cv2.imwrite(out, mask):
            raise OSError(f'cannot write {out}')
        done += 1
    print(f'{done} masks written to {out_dir} '
          f'({len(dataset) - done} already there)')


if __name__ == '__main__':
    main()
