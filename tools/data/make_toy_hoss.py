"""Generate a tiny synthetic HOSS ReID folder (and OptiSar_Pair folder).

No HOSS sample can be shipped, so the toy configs and the tests train and
evaluate on a copy with exactly the HOSS on-disk layout::

    OUT/bounding_box_train/<id>_<place>_c<k>_<RGB|SAR>.tif
    OUT/query/...                      first chip of each test id, per modality
    OUT/bounding_box_test/...          the other chips of the test ids, plus
                                       distractor ids (gallery only)
    OUT/subset/O2S/query/              optical chips of the test ids
    OUT/subset/O2S/bounding_box_test/  SAR chips of the test ids + distractors
    OUT/subset/S2O/query/              SAR chips of the test ids
    OUT/subset/S2O/bounding_box_test/  optical chips of the test ids + distr.

Identities come from real co-registered optical/SAR pairs
(``shared/data/3mos_pairs``: same file name = same place): one place is one
"ship". Each chip is a crop around the place centre with a random
ship-like size (tall and narrow, so the ship-size vector varies) and a small
offset. Optical chips are 8-bit RGB TIFFs; SAR chips are single-band
float32 TIFFs whose grey values are multiplied by a random gain (the loader
divides by the per-image maximum, so the gain must not matter).

``--pairs-out`` also writes an OptiSar_Pair-style pretraining folder
(``<pairs-out>/<4-digit folder>/<sensor>_<pair id>_<RGB|SAR>.png``, full
places, SAR as 8-bit grey).

Example::

    python tools/data/make_toy_hoss.py ../shared/data/3mos_pairs \\
        data/toy_hoss --num-train-ids 16 --num-test-ids 8 \\
        --pairs-out data/toy_optisar_pair
"""
import argparse
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

PLACE_SIZE = 256  # 3MOS patches are 256 px (TerraSAR ones are resized)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='3mos_pairs folder (opt/, sar/)')
    parser.add_argument('out', help='output HOSS root')
    parser.add_argument('--num-train-ids', type=int, default=16)
    parser.add_argument('--num-test-ids', type=int, default=8)
    parser.add_argument('--num-distractors', type=int, default=2)
    parser.add_argument(
        '--chips', type=int, default=3, help='chips per id and modality')
    parser.add_argument('--pairs-out', help='also write OptiSar_Pair here')
    parser.add_argument('--num-pairs', type=int, default=32)
    parser.add_argument('--pairs-per-folder', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def load_places(src: Path) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """(name, optical BGR, SAR grey) of every pair, resized to 256 px."""
    places = []
    for opt_path in sorted((src / 'opt').glob('*.png')):
        sar_path = src / 'sar' / opt_path.name
        if not sar_path.is_file():
            raise FileNotFoundError(f'{opt_path} has no SAR partner '
                                    f'{sar_path}')
        opt = cv2.imread(str(opt_path), cv2.IMREAD_COLOR)
        sar = cv2.imread(str(sar_path), cv2.IMREAD_GRAYSCALE)
        if opt is None or sar is None:
            raise OSError(f'cannot read {opt_path} or {sar_path}')
        size = (PLACE_SIZE, PLACE_SIZE)
        places.append((opt_path.stem.replace('_', '-'),
                       cv2.resize(opt, size, interpolation=cv2.INTER_AREA),
                       cv2.resize(sar, size, interpolation=cv2.INTER_AREA)))
    if not places:
        raise FileNotFoundError(f'no pairs in {src}/opt')
    return places


def ship_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tall, narrow crop near the image centre."""
    h = int(rng.integers(96, 200))
    w = int(rng.integers(32, 80))
    cy = PLACE_SIZE // 2 + int(rng.integers(-12, 13))
    cx = PLACE_SIZE // 2 + int(rng.integers(-12, 13))
    y0 = int(np.clip(cy - h // 2, 0, PLACE_SIZE - h))
    x0 = int(np.clip(cx - w // 2, 0, PLACE_SIZE - w))
    return img[y0:y0 + h, x0:x0 + w]


def write_chip(folder: Path, ship_id: int, place: str, k: int,
               modality: str, chip: np.ndarray,
               rng: np.random.Generator) -> None:
    """Write an optical chip as 8-bit RGB TIFF, a SAR chip as float32."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f'{ship_id:04d}_{place}_c{k}_{modality}.tif'
    if modality == 'SAR':
        gain = float(rng.uniform(10.0, 5000.0))
        chip = (chip.astype(np.float32) + 1.0) / 256.0 * gain
    if not cv2.imwrite(str(path), chip):
        raise OSError(f'cannot write {path}')


def make_hoss(places, out: Path, args, rng: np.random.Generator) -> None:
    needed = args.num_train_ids + args.num_test_ids + args.num_distractors
    if needed > len(places):
        raise ValueError(f'{needed} ids requested, only {len(places)} places')
    order = rng.permutation(len(places))[:needed]
    for n, place_idx in enumerate(order):
        ship_id = n + 1
        name, opt, sar = places[place_idx]
        is_train = n < args.num_train_ids
        is_distractor = n >= args.num_train_ids + args.num_test_ids
        for modality, img in (('RGB', opt), ('SAR', sar)):
            for k in range(args.chips):
                chip = ship_crop(img, rng)
                if is_train:
                    folders = [out / 'bounding_box_train']
                else:
                    cross = 'O2S' if modality == 'RGB' else 'S2O'
                    same = 'S2O' if modality == 'RGB' else 'O2S'
                    folders = [out / 'subset' / same / 'bounding_box_test']
                    if is_distractor:
                        folders.append(out / 'bounding_box_test')
                    else:
                        folders.append(out / ('query' if k == 0 else
                                              'bounding_box_test'))
                        folders.append(out / 'subset' / cross / 'query')
                for folder in folders:
                    write_chip(folder, ship_id, name, k, modality, chip, rng)


def make_pairs(places, out: Path, args) -> None:
    for k, (name, opt, sar) in enumerate(places[:args.num_pairs]):
        folder = out / f'{k // args.pairs_per_folder:04d}'
        folder.mkdir(parents=True, exist_ok=True)
        sensor = name.split('-')[0]
        for modality, img in (('RGB', opt), ('SAR', sar)):
            path = folder / f'{sensor}_{k:05d}_{modality}.png'
            if not cv2.imwrite(str(path), img):
                raise OSError(f'cannot write {path}')


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    places = load_places(Path(args.src))
    make_hoss(places, Path(args.out), args, rng)
    if args.pairs_out:
        make_pairs(places, Path(args.pairs_out), args)


if __name__ == '__main__':
    main()
