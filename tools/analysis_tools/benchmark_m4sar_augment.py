"""Grey padding and tiles per crop of the M4-SAR mosaic + affine crop.

    python tools/analysis_tools/benchmark_m4sar_augment.py \
        [--config CONFIG] [--trials 2000] [--tile 512] [--seed 0]

Four 512 px tiles, each filled with its own tag value on all six bands, go
through the training pipeline's first two transforms (mosaic on a 1024
canvas, then the random affine back to 512). For each crop it counts the
grey padding (pixels equal to the fill 114 in every band) and which tiles
are visible (pixels equal to a tile's tag). It prints, per variant:

* ``padding %``: mean share of grey pixels per training image,
* ``single-tile %``: share of crops showing one tile only,
* ``tiles/crop``: mean number of tiles visible.

Variants: ``release (formula)`` is an independent Monte Carlo of the
released Ultralytics geometry (mosaic centre ``U(256, 768)``, zoom
``U(0.5, 1.5)`` about the canvas centre, crop centre ``U(0.4, 0.6) x 512``),
written from the formulas without mmosar's transforms; ``mmosar`` is the
config's pipeline; ``mmosar before`` is mmdet's ``RandomAffine`` semantics
(``PairedRandomAffine``: zoom about the origin), the recipe before issue 13.

The no-mosaic rows (the last 10 epochs) push one tile through the
close-mosaic pipeline's geometric transforms and report the grey padding and
the mean offset of the visible image's centroid from the crop centre, in
pixels (the release centres it: about 0).
"""
import argparse
from typing import Dict, List, Sequence

import numpy as np

#: tile tag values (distinct from the 114 fill and from each other)
TAGS = (20, 60, 170, 230)
FILL = 114


def tagged_sample(tag: int, tile: int, bands: int = 6) -> dict:
    """A paired sample (``bands`` bands) of one value, with no boxes."""
    from mmosar.structures.bbox import QuadriBoxes
    img = np.full((tile, tile, bands), tag, dtype=np.uint8)
    return dict(
        img=img,
        img_shape=img.shape[:2],
        ori_shape=img.shape[:2],
        modality_channels=dict(optical=3, sar=bands - 3),
        gt_bboxes=QuadriBoxes(np.zeros((0, 8), dtype=np.float32)),
        gt_bboxes_labels=np.zeros(0, dtype=np.int64),
        gt_ignore_flags=np.zeros(0, dtype=bool))


def crop_statistics(images: Sequence[np.ndarray]) -> Dict[str, float]:
    """Padding share, single-tile share and tiles per crop of crops."""
    padding, visible = [], []
    for img in images:
        flat = img.reshape(-1, img.shape[-1]) if img.ndim == 3 else \
            img.reshape(-1, 1)
        uniform = (flat.min(axis=1) == flat.max(axis=1))
        values = flat[uniform, 0]
        padding.append((values == FILL).sum() / len(flat))
        visible.append(sum(bool((values == tag).any()) for tag in TAGS))
    visible = np.asarray(visible)
    return {
        'padding %': 100 * float(np.mean(padding)),
        'single-tile %': 100 * float(np.mean(visible == 1)),
        'tiles/crop': float(np.mean(visible)),
    }


def run_transforms(transforms: List, trials: int, tile: int,
                   seed: int) -> Dict[str, float]:
    """Statistics of ``transforms`` (mosaic first) on tagged tiles."""
    np.random.seed(seed)
    images = []
    for _ in range(trials):
        results = tagged_sample(TAGS[0], tile)
        results['mix_results'] = [
            tagged_sample(tag, tile) for tag in TAGS[1:]
        ]
        for transform in transforms:
            results = transform(results)
        images.append(results['img'])
    return crop_statistics(images)


def release_formula(trials: int, tile: int, seed: int,
                    step: int = 2) -> Dict[str, float]:
    """Independent Monte Carlo of the released geometry (no mmosar code).

    An output pixel ``(u, v)`` of the ``tile`` crop comes from the canvas
    point ``((u - tx) / s + tile, (v - ty) / s + tile)`` (the inverse of
    ``T R C`` with ``C`` the canvas centre); it is grey when that point is
    off the canvas or off the four tiles placed around the mosaic centre
    ``(xc, yc)``, else it shows tile ``[x >= xc] + 2 [y >= yc]``.
    """
    rng = np.random.RandomState(seed)
    canvas = 2 * tile
    grid = np.arange(0, tile, step, dtype=np.float64)
    u, v = np.meshgrid(grid, grid)
    padding, visible = [], []
    for _ in range(trials):
        xc, yc = (int(rng.uniform(tile // 2, canvas - tile // 2))
                  for _ in range(2))
        zoom = rng.uniform(0.5, 1.5)
        tx, ty = rng.uniform(0.4, 0.6, 2) * tile
        x = (u - tx) / zoom + tile
        y = (v - ty) / zoom + tile
        on_tiles = (x >= max(xc - tile, 0)) & (x < min(xc + tile, canvas)) \
            & (y >= max(yc - tile, 0)) & (y < min(yc + tile, canvas))
        padding.append(1 - on_tiles.mean())
        which = (x >= xc).astype(int) + 2 * (y >= yc).astype(int)
        visible.append(len(np.unique(which[on_tiles])))
    visible = np.asarray(visible)
    return {
        'padding %': 100 * float(np.mean(padding)),
        'single-tile %': 100 * float(np.mean(visible == 1)),
        'tiles/crop': float(np.mean(visible)),
    }


def release_no_mosaic_formula(trials: int, tile: int, seed: int,
                              step: int = 2) -> Dict[str, float]:
    """Independent Monte Carlo of the released letterbox + affine: output
    pixel ``(u, v)`` comes from ``((u - tx) / s + tile / 2, ...)``."""
    rng = np.random.RandomState(seed)
    grid = np.arange(0, tile, step, dtype=np.float64)
    u, v = np.meshgrid(grid, grid)
    padding, offset = [], []
    for _ in range(trials):
        zoom = rng.uniform(0.5, 1.5)
        tx, ty = rng.uniform(0.4, 0.6, 2) * tile
        x, y = (u - tx) / zoom + tile / 2, (v - ty) / zoom + tile / 2
        on = (x >= 0) & (x < tile) & (y >= 0) & (y < tile)
        padding.append(1 - on.mean())
        offset.append(np.hypot(u[on].mean() - tile / 2 + step / 2,
                               v[on].mean() - tile / 2 + step / 2))
    return {'padding %': 100 * float(np.mean(padding)),
            'centroid offset px': float(np.mean(offset))}


def run_no_mosaic(transforms: List, trials: int, tile: int,
                  seed: int) -> Dict[str, float]:
    """Padding and content-centroid offset of a single-tile pipeline."""
    np.random.seed(seed)
    padding, offset = [], []
    for _ in range(trials):
        results = tagged_sample(TAGS[0], tile)
        for transform in transforms:
            results = transform(results)
        band = results['img'][..., 0]
        padding.append(float((band == FILL).mean()))
        ys, xs = np.nonzero(band == TAGS[0])
        offset.append(
            np.hypot(xs.mean() + 0.5 - band.shape[1] / 2,
                     ys.mean() + 0.5 - band.shape[0] / 2))
    return {'padding %': 100 * float(np.mean(padding)),
            'centroid offset px': float(np.mean(offset))}


def config_no_mosaic_transforms(config: str, tile: int) -> List:
    """The geometric transforms of the close-mosaic pipeline."""
    from mmengine.config import Config

    from mmosar.registry import TRANSFORMS
    cfg = Config.fromfile(config)
    switch = [
        h for h in cfg.custom_hooks if h.type == 'MixPipelineSwitchHook'
    ][0]
    transforms = []
    for t in switch.switch_pipeline:
        t = dict(t)
        if t['type'] == 'Resize':
            t['scale'] = (tile, tile)
        elif t['type'] == 'RandomCenteredAffine':
            t['output_size'] = (tile, tile)
        else:
            continue
        transforms.append(TRANSFORMS.build(t))
    return transforms


def before_no_mosaic_transforms(tile: int) -> List:
    """The close-mosaic geometry before issue 13 (pad right / bottom, mmdet
    RandomAffine)."""
    from mmosar.registry import TRANSFORMS
    return [
        TRANSFORMS.build(
            dict(type='Resize', scale=(tile, tile), keep_ratio=True)),
        TRANSFORMS.build(
            dict(
                type='MultiBandPad',
                size=(tile, tile),
                pad_val=dict(img=114))),
        TRANSFORMS.build(
            dict(
                type='PairedRandomAffine',
                max_rotate_degree=0,
                max_shear_degree=0,
                max_translate_ratio=0.1,
                scaling_ratio_range=(0.5, 1.5),
                border=(0, 0),
                border_val=114))
    ]


def config_transforms(config: str, tile: int) -> List:
    """The mosaic and affine transforms of a config's training pipeline,
    rescaled to ``tile`` px tiles."""
    from mmengine.config import Config

    from mmosar.registry import TRANSFORMS
    pipeline = Config.fromfile(config).train_dataloader.dataset.pipeline
    mosaic, affine = (dict(t) for t in pipeline[:2])
    if mosaic['type'] != 'PairedMosaic':
        raise ValueError(f'{config}: the training pipeline does not start '
                         f'with PairedMosaic but {mosaic["type"]}')
    mosaic['img_scale'] = (tile, tile)
    if 'border' in affine:
        affine['border'] = (-tile // 2, -tile // 2)
    return [TRANSFORMS.build(mosaic), TRANSFORMS.build(affine)]


def before_transforms(tile: int) -> List:
    """The recipe's transforms before issue 13 (mmdet RandomAffine)."""
    from mmosar.registry import TRANSFORMS
    return [
        TRANSFORMS.build(
            dict(type='PairedMosaic', img_scale=(tile, tile), pad_val=114)),
        TRANSFORMS.build(
            dict(
                type='PairedRandomAffine',
                max_rotate_degree=0,
                max_shear_degree=0,
                max_translate_ratio=0.1,
                scaling_ratio_range=(0.5, 1.5),
                border=(-tile // 2, -tile // 2),
                border_val=114))
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config',
        default='configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py')
    parser.add_argument('--trials', type=int, default=2000)
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    rows = {
        'release (formula)':
        release_formula(args.trials, args.tile, args.seed),
        'mmosar':
        run_transforms(
            config_transforms(args.config, args.tile), args.trials,
            args.tile, args.seed),
        'mmosar before':
        run_transforms(
            before_transforms(args.tile), args.trials, args.tile, args.seed),
    }
    print(f'{args.trials} crops of four tagged {args.tile} px tiles '
          f'(seed {args.seed})')
    print(f'{"variant":<20}{"padding %":>12}{"single-tile %":>15}'
          f'{"tiles/crop":>12}')
    for name, stats in rows.items():
        print(f'{name:<20}{stats["padding %"]:>12.1f}'
              f'{stats["single-tile %"]:>15.1f}{stats["tiles/crop"]:>12.2f}')
    single = {
        'release (formula)':
        release_no_mosaic_formula(args.trials, args.tile, args.seed),
        'mmosar':
        run_no_mosaic(
            config_no_mosaic_transforms(args.config, args.tile), args.trials,
            args.tile, args.seed),
        'mmosar before':
        run_no_mosaic(
            before_no_mosaic_transforms(args.tile), args.trials, args.tile,
            args.seed),
    }
    print(f'no mosaic (one tile)\n{"variant":<20}{"padding %":>12}'
          f'{"centroid offset px":>20}')
    for name, stats in single.items():
        print(f'{name:<20}{stats["padding %"]:>12.1f}'
              f'{stats["centroid offset px"]:>20.1f}')


if __name__ == '__main__':
    main()
