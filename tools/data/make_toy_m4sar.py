"""Generate a small synthetic M4-SAR dataset in the released on-disk format.

The real M4-SAR (112,174 co-registered Sentinel-2 optical / Sentinel-1 SAR
pairs, 6 classes, oriented boxes) cannot be shipped with the project, so the
demo and the tests train and evaluate on a toy copy that has exactly the same
layout and label format:

``--layout released`` (what the official code and GEO-Bench-2 read)::

    OUT/optical/images/{train,val,test}/<n>.jpg   RGB optical (JPEG)
    OUT/sar/images/{train,val,test}/<n>.jpg       SAR, grey stored as 3 bands
    OUT/{optical,sar}/labels/{split}/<n>.txt      "cls x1 y1 ... x4 y4",
                                                  corners normalised to [0, 1]

``--layout drawn`` (the layout drawn in the paper's data-structure figure)::

    OUT/{optical,SAR}/{split}/images/<n>.jpg
    OUT/{optical,SAR}/{split}/labelTxt/<n>.txt    DOTA lines in pixels:
                                                  "x1 y1 ... x4 y4 class 0"

File numbers follow the released convention: numbers up to 56087 stand for
10 m optical with VH SAR, numbers from 56088 for 60 m optical with VV SAR.
Samples alternate between the two ranges, and the 60 m optical images are
blurred to mimic the coarser resolution.

Each optical image has a smooth textured background with coloured objects
drawn per class (grey bridges, dark harbours with piers, bright round oil
tanks, red/green playgrounds, large airports with a runway, three-bladed wind
turbines). The SAR image is co-registered: the same objects are bright
scatterers on a dark, textured background, multiplied by gamma-distributed
speckle (``--looks`` looks, mean 1). The labels of both modalities are
identical, as in the released dataset.

Example::

    python tools/data/make_toy_m4sar.py data/toy_m4sar \\
        --num-train 24 --num-val 8 --num-test 8 --img-size 256 --seed 0
"""
import argparse
import time
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

CLASSES = ('bridge', 'harbor', 'oil_tank', 'playground', 'airport',
           'wind_turbine')
FIRST_60M_NUMBER = 56088  # file numbers >= this are 60 m optical / VV SAR

# Object size (long side, short side) as a fraction of the image size.
SIZE_RANGE = {
    'bridge': ((0.18, 0.32), (0.025, 0.045)),
    'harbor': ((0.22, 0.32), (0.14, 0.22)),
    'oil_tank': ((0.05, 0.09), None),  # round: short side = long side
    'playground': ((0.12, 0.18), (0.07, 0.10)),
    'airport': ((0.40, 0.50), (0.22, 0.28)),
    'wind_turbine': ((0.07, 0.10), (0.07, 0.10)),
}
# How many objects of each class a sample may receive (min, max).
COUNT_RANGE = {
    'bridge': (0, 2),
    'harbor': (0, 1),
    'oil_tank': (0, 4),
    'playground': (0, 2),
    'airport': (0, 1),
    'wind_turbine': (0, 3),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate a toy M4-SAR dataset (optical + SAR pairs, '
        'oriented boxes) in the released on-disk format.')
    parser.add_argument('out_dir', help='output root (M4-SAR root)')
    parser.add_argument('--num-train', type=int, default=24)
    parser.add_argument('--num-val', type=int, default=8)
    parser.add_argument('--num-test', type=int, default=8)
    parser.add_argument(
        '--img-size', type=int, default=256, help='square image side (px)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--layout',
        choices=['released', 'drawn'],
        default='released',
        help='released: {optical,sar}/{images,labels}/{split}; drawn: '
        '{optical,SAR}/{split}/{images,labelTxt} with DOTA labels')
    parser.add_argument(
        '--looks',
        type=float,
        default=3.0,
        help='number of looks of the gamma speckle (smaller = noisier)')
    return parser.parse_args()


def smooth_field(rng: np.random.Generator, size: int, cells: int,
                 channels: int) -> np.ndarray:
    """Smooth random field in [0, 1] from upsampled low-resolution noise.

    Args:
        rng: Random generator.
        size: Output side in pixels.
        cells: Side of the low-resolution noise grid.
        channels: Number of channels.

    Returns:
        np.ndarray: float32 array of shape (size, size, channels).
    """
    coarse = rng.random((cells, cells, channels)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    field = field.reshape(size, size, channels)
    return np.clip(field, 0.0, 1.0)


def optical_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Land-cover-like optical background (BGR float in [0, 255]).

    Returns:
        np.ndarray: float32 (size, size, 3), BGR.
    """
    # Vegetation / soil mix, in BGR.
    vegetation = np.array([60, 110, 70], np.float32)
    soil = np.array([110, 140, 160], np.float32)
    mix = smooth_field(rng, size, 6, 1)
    img = vegetation * (1.0 - mix) + soil * mix
    img += (smooth_field(rng, size, 32, 3) - 0.5) * 40.0  # fine texture
    # Sometimes a water body (dark blue) occupies one side.
    if rng.random() < 0.5:
        water = smooth_field(rng, size, 3, 1)[..., 0] > 0.62
        img[water] = np.array([100, 70, 40], np.float32) + \
            (rng.random((int(water.sum()), 3)) - 0.5) * 10.0
    return img


def sar_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Mean SAR reflectivity of the background, float in (0, 1].

    Returns:
        np.ndarray: float32 (size, size).
    """
    return (0.10 + 0.15 * smooth_field(rng, size, 8, 1)[..., 0]).astype(
        np.float32)


def rotated_corners(cx: float, cy: float, w: float, h: float,
                    angle_deg: float) -> np.ndarray:
    """Corners of a rotated rectangle, in polygon order.

    Args:
        cx, cy: Centre in pixels.
        w, h: Side lengths in pixels (w along the rotated x axis).
        angle_deg: Rotation, degrees, clockwise in image coordinates.

    Returns:
        np.ndarray: float64 (4, 2) corners (x, y).
    """
    t = np.deg2rad(angle_deg)
    axis_u = np.array([np.cos(t), np.sin(t)]) * w / 2.0
    axis_v = np.array([-np.sin(t), np.cos(t)]) * h / 2.0
    centre = np.array([cx, cy])
    return np.stack([
        centre - axis_u - axis_v, centre + axis_u - axis_v,
        centre + axis_u + axis_v, centre - axis_u + axis_v
    ])


def draw_object(optical: np.ndarray, reflectivity: np.ndarray, cls: str,
                corners: np.ndarray, angle_deg: float,
                rng: np.random.Generator) -> None:
    """Draw one object into the optical image and the SAR reflectivity map.

    Args:
        optical: float32 (H, W, 3) BGR image, modified in place.
        reflectivity: float32 (H, W) SAR mean reflectivity, modified in place.
        cls: Class name.
        corners: (4, 2) box corners in pixels.
        angle_deg: Box angle in degrees (clockwise).
        rng: Random generator.
    """
    poly = np.round(corners).astype(np.int32)
    centre = corners.mean(axis=0)
    w = np.linalg.norm(corners[1] - corners[0])
    h = np.linalg.norm(corners[3] - corners[0])
    jitter = (rng.random(3) - 0.5) * 20.0

    def colour(*bgr):
        return tuple(float(c + j) for c, j in zip(bgr, jitter))

    def ellipse(img, scale, value, thickness=-1):
        cv2.ellipse(img, (int(round(centre[0])), int(round(centre[1]))),
                    (max(1, int(w * scale / 2)), max(1, int(h * scale / 2))),
                    angle_deg, 0, 360, value, thickness, cv2.LINE_AA)

    def segment(img, p, q, value, thickness):
        cv2.line(img, tuple(int(v) for v in np.round(p)),
                 tuple(int(v) for v in np.round(q)), value, thickness,
                 cv2.LINE_AA)

    if cls == 'bridge':
        cv2.fillPoly(optical, [poly], colour(150, 150, 150))
        cv2.fillPoly(reflectivity, [poly], 0.9)
    elif cls == 'harbor':
        cv2.fillPoly(optical, [poly], colour(95, 75, 55))
        cv2.fillPoly(reflectivity, [poly], 0.04)
        for k in (0.25, 0.5, 0.75):  # piers across the basin
            p = corners[0] + (corners[1] - corners[0]) * k
            q = corners[3] + (corners[2] - corners[3]) * k
            segment(optical, p, q, (200, 200, 200), 2)
            segment(reflectivity, p, q, 1.0, 2)
        cv2.polylines(reflectivity, [poly], True, 0.8, 2)
    elif cls == 'oil_tank':
        ellipse(optical, 1.0, colour(225, 225, 225))
        ellipse(optical, 0.5, (180, 180, 180))
        ellipse(reflectivity, 1.0, 0.6)
        ellipse(reflectivity, 1.0, 1.0, 2)  # bright double-bounce rim
    elif cls == 'playground':
        cv2.fillPoly(optical, [poly], colour(60, 150, 60))
        ellipse(optical, 0.85, (70, 80, 190), 3)  # red running track
        cv2.fillPoly(reflectivity, [poly], 0.35)
        ellipse(reflectivity, 0.85, 0.7, 2)
    elif cls == 'airport':
        cv2.fillPoly(optical, [poly], colour(120, 135, 140))
        p = corners[0] + (corners[3] - corners[0]) * 0.5
        q = corners[1] + (corners[2] - corners[1]) * 0.5
        segment(optical, p, q, (60, 60, 60), max(2, int(h * 0.15)))
        cv2.fillPoly(reflectivity, [poly], 0.5)
        segment(reflectivity, p, q, 0.05, max(2, int(h * 0.15)))
    elif cls == 'wind_turbine':
        # Tower foot plus three blades 120 degrees apart.
        radius = min(w, h) / 2.0
        start = rng.random() * 120.0
        for k in range(3):
            t = np.deg2rad(start + 120.0 * k)
            tip = centre + radius * np.array([np.cos(t), np.sin(t)])
            segment(optical, centre, tip, (235, 235, 235), 2)
            segment(reflectivity, centre, tip, 1.0, 2)
        cv2.circle(optical, tuple(int(v) for v in np.round(centre)), 2,
                   (250, 250, 250), -1)
        cv2.circle(reflectivity, tuple(int(v) for v in np.round(centre)), 2,
                   1.0, -1)
    else:
        raise ValueError(f'unknown class {cls!r}')


def sample_objects(rng: np.random.Generator,
                   size: int) -> List[Tuple[int, np.ndarray, float]]:
    """Place non-overlapping objects fully inside the image (at least one).

    Returns:
        list: (class index, (4, 2) corners in pixels, angle in degrees).
    """
    objects = []
    occupied = []  # (cx, cy, radius)
    for cls_idx, cls in enumerate(CLASSES):
        lo, hi = COUNT_RANGE[cls]
        for _ in range(rng.integers(lo, hi + 1)):
            long_rng, short_rng = SIZE_RANGE[cls]
            w = rng.uniform(*long_rng) * size
            h = w if short_rng is None else rng.uniform(*short_rng) * size
            if cls in ('oil_tank', 'wind_turbine'):
                angle = 0.0 if cls == 'oil_tank' else 90.0
            else:
                angle = float(rng.uniform(0.0, 180.0))
            radius = 0.5 * float(np.hypot(w, h))
            for _attempt in range(30):
                cx, cy = rng.uniform(radius, size - radius, 2) \
                    if radius < size / 2 else (size / 2, size / 2)
                if all(
                        np.hypot(cx - ox, cy - oy) > radius + orad + 2
                        for ox, oy, orad in occupied):
                    corners = rotated_corners(cx, cy, w, h, angle)
                    if corners.min() >= 0 and corners.max() <= size - 1:
                        occupied.append((cx, cy, radius))
                        objects.append((cls_idx, corners, angle))
                        break
    if not objects:  # every sample gets at least one object
        side = SIZE_RANGE['oil_tank'][0][1] * size
        objects.append((CLASSES.index('oil_tank'),
                        rotated_corners(size / 2, size / 2, side, side,
                                        0.0), 0.0))
    # Airports and harbours are drawn first so small objects stay visible.
    draw_order = {'airport': 0, 'harbor': 1}
    objects.sort(key=lambda o: draw_order.get(CLASSES[o[0]], 2))
    return objects


def make_pair(rng: np.random.Generator, size: int, coarse: bool, looks: float):
    """Render one co-registered optical / SAR pair.

    Args:
        rng: Random generator.
        size: Image side in pixels.
        coarse: Whether this is a 60 m sample (blurred optical).
        looks: Number of looks of the speckle.

    Returns:
        tuple: optical uint8 (H, W, 3) BGR, SAR uint8 (H, W, 3) grey
        replicated, and the objects from :func:`sample_objects`.
    """
    optical = optical_background(rng, size)
    reflectivity = sar_background(rng, size)
    objects = sample_objects(rng, size)
    for cls_idx, corners, angle in objects:
        draw_object(optical, reflectivity, CLASSES[cls_idx], corners, angle,
                    rng)
    if coarse:
        optical = cv2.GaussianBlur(optical, (0, 0), 1.5)
    optical = np.clip(optical + rng.normal(0, 3, optical.shape), 0, 255)
    # Multiplicative speckle: intensity * Gamma(L, 1/L) (mean 1), shown as
    # amplitude (square root), which is how SAR quick-looks are usually
    # stored as 8-bit images.
    speckle = rng.gamma(looks, 1.0 / looks, reflectivity.shape)
    amplitude = np.sqrt(reflectivity * speckle)
    sar = np.clip(amplitude * 255.0, 0, 255).astype(np.uint8)
    sar = np.repeat(sar[..., None], 3, axis=2)
    return optical.astype(np.uint8), sar, objects


def released_label_lines(objects, size: int) -> List[str]:
    """Ultralytics OBB lines: class index and normalised corners."""
    lines = []
    for cls_idx, corners, _ in objects:
        coords = ' '.join(f'{v:.6f}' for v in (corners / size).reshape(-1))
        lines.append(f'{cls_idx} {coords}')
    return lines


def drawn_label_lines(objects) -> List[str]:
    """DOTA lines: pixel corners, class name, difficulty 0."""
    lines = []
    for cls_idx, corners, _ in objects:
        coords = ' '.join(f'{v:.1f}' for v in corners.reshape(-1))
        lines.append(f'{coords} {CLASSES[cls_idx]} 0')
    return lines


def file_number(global_index: int) -> int:
    """Alternate between the 10 m / VH and the 60 m / VV number ranges."""
    offset = global_index // 2 + 1
    return offset if global_index % 2 == 0 else FIRST_60M_NUMBER - 1 + offset


def generate(out_dir: str,
             num_train: int = 24,
             num_val: int = 8,
             num_test: int = 8,
             img_size: int = 256,
             seed: int = 0,
             layout: str = 'released',
             looks: float = 3.0) -> Path:
    """Write the toy dataset. Same arguments give byte-identical files.

    Args:
        out_dir: Output root.
        num_train, num_val, num_test: Number of pairs per split.
        img_size: Square image side in pixels.
        seed: Random seed.
        layout: ``'released'`` or ``'drawn'`` (see module docstring).
        looks: Number of looks of the gamma speckle.

    Returns:
        Path: The output root.
    """
    if layout not in ('released', 'drawn'):
        raise ValueError(f'layout must be "released" or "drawn", got '
                         f'{layout!r}')
    if img_size < 64:
        raise ValueError(f'img_size must be at least 64, got {img_size}')
    root = Path(out_dir)
    rng = np.random.default_rng(seed)
    global_index = 0
    for split, num in (('train', num_train), ('val', num_val), ('test',
                                                                num_test)):
        for _ in range(num):
            number = file_number(global_index)
            global_index += 1
            optical, sar, objects = make_pair(rng, img_size, number
                                              >= FIRST_60M_NUMBER, looks)
            for modality, img in (('optical', optical), ('sar', sar)):
                if layout == 'released':
                    img_dir = root / modality / 'images' / split
                    label_dir = root / modality / 'labels' / split
                    lines = released_label_lines(objects, img_size)
                else:
                    folder = 'SAR' if modality == 'sar' else 'optical'
                    img_dir = root / folder / split / 'images'
                    label_dir = root / folder / split / 'labelTxt'
                    lines = drawn_label_lines(objects)
                img_dir.mkdir(parents=True, exist_ok=True)
                label_dir.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(
                    str(img_dir / f'{number}.jpg'), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
                (label_dir / f'{number}.txt').write_text(''.join(
                    line + '\n' for line in lines))
    return root


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    root = generate(args.out_dir, args.num_train, args.num_val, args.num_test,
                    args.img_size, args.seed, args.layout, args.looks)
    total = args.num_train + args.num_val + args.num_test
    print(f'wrote {total} optical/SAR pairs ({args.layout} layout, '
          f'{args.img_size} px) to {root} in '
          f'{time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
