"""Paired optical + SAR loading and per-modality / geometric transforms."""
import copy

import cv2
import numpy as np
import pytest
import torch

from mmosar.registry import TRANSFORMS

S1 = 'bigearthnet_s1s2/BigEarthNet-S1-Example'
S2 = 'bigearthnet_s1s2/BigEarthNet-S2-Example'
S1_PATCH = 'S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48'
S2_PATCH = 'S2A_MSIL2A_20170613T101031_87_48'


def build(cfg):
    return TRANSFORMS.build(cfg)


def test_load_3mos_pair(shared_data):
    opt = shared_data / '3mos_pairs' / 'opt' / 'GF3_city_03.png'
    sar = shared_data / '3mos_pairs' / 'sar' / 'GF3_city_03.png'
    results = build(dict(type='LoadPairedImages'))(
        dict(img_path=str(opt), sar_path=str(sar)))
    img = results['img']
    assert img.shape == (256, 256, 4) and img.dtype == np.uint8
    assert results['modality_channels'] == dict(optical=3, sar=1)
    assert results['img_shape'] == results['ori_shape'] == (256, 256)
    np.testing.assert_array_equal(img[..., :3], cv2.imread(str(opt)))
    np.testing.assert_array_equal(img[..., 3],
                                  cv2.imread(str(sar), cv2.IMREAD_GRAYSCALE))

    three = build(dict(type='LoadPairedImages', sar_channels=3))(
        dict(img_path=str(opt), sar_path=str(sar)))
    assert three['img'].shape == (256, 256, 6)
    assert three['modality_channels'] == dict(optical=3, sar=3)
    for band in range(3, 6):
        np.testing.assert_array_equal(three['img'][..., band], img[..., 3])


def test_load_3mos_terrasar_pair_and_size_mismatch(shared_data):
    pairs = shared_data / '3mos_pairs'
    # TerraSAR pairs come from a rescaled figure: 317 x 316, both modalities
    terra = 'TerraSAR_mountain_01.png'
    results = build(dict(type='LoadPairedImages'))(
        dict(
            img_path=str(pairs / 'opt' / terra),
            sar_path=str(pairs / 'sar' / terra)))
    assert results['img'].shape == (316, 317, 4)
    # a 256 px optical image with a 317 px SAR image is not a pair
    opt = pairs / 'opt' / 'GF3_city_03.png'
    with pytest.raises(ValueError) as err:
        build(dict(type='LoadPairedImages'))(
            dict(img_path=str(opt), sar_path=str(pairs / 'sar' / terra)))
    message = str(err.value)
    assert str(opt) in message and terra in message
    assert '256x256' in message and '317x316' in message


def test_load_bigearthnet_float_sar(shared_data):
    s1 = shared_data / S1 / S1_PATCH
    s2 = shared_data / S2 / S2_PATCH
    sar_paths = [str(s1 / f'{S1_PATCH}_{pol}.tif') for pol in ('VV', 'VH')]
    opt_paths = [
        str(s2 / f'{S2_PATCH}_{b}.tif') for b in ('B02', 'B03', 'B04')
    ]
    transform = build(
        dict(
            type='LoadPairedImages',
            sar_channels=2,
            optical_range=(0, 3000),
            sar_range=(-30.0, 5.0)))
    results = transform(dict(img_path=opt_paths, sar_path=sar_paths))
    img = results['img']
    assert img.shape == (120, 120, 5) and img.dtype == np.float32
    assert results['modality_channels'] == dict(optical=3, sar=2)
    for band, path in enumerate(sar_paths, start=3):
        db = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float64)
        expected = np.clip((db + 30.0) / 35.0 * 255.0, 0, 255)
        np.testing.assert_allclose(img[..., band], expected, atol=1e-3)
    blue = cv2.imread(opt_paths[0], cv2.IMREAD_UNCHANGED).astype(np.float64)
    np.testing.assert_allclose(
        img[..., 0], np.clip(blue / 3000 * 255, 0, 255), atol=1e-3)
    # raw values are kept without a range
    raw = build(dict(type='LoadPairedImages', sar_channels=2, sar_range=None))(
        dict(img_path=opt_paths, sar_path=sar_paths))
    np.testing.assert_allclose(raw['img'][..., 3],
                               cv2.imread(sar_paths[0], cv2.IMREAD_UNCHANGED))


def test_load_band_errors(shared_data):
    s2 = shared_data / S2 / S2_PATCH
    s1 = shared_data / S1 / S1_PATCH
    sar = [str(s1 / f'{S1_PATCH}_VV.tif')]
    # B01 is a 60 m band (20 x 20), B02 a 10 m band (120 x 120)
    bands = [str(s2 / f'{S2_PATCH}_{b}.tif') for b in ('B01', 'B02', 'B03')]
    with pytest.raises(ValueError, match='same size.*B01'):
        build(dict(type='LoadPairedImages'))(
            dict(img_path=bands, sar_path=sar))
    two = [str(s2 / f'{S2_PATCH}_{b}.tif') for b in ('B02', 'B03')]
    with pytest.raises(ValueError, match='2 band.*optical_channels=3'):
        build(dict(type='LoadPairedImages'))(dict(img_path=two, sar_path=sar))
    with pytest.raises(ValueError, match='sar_channels=3'):
        build(dict(type='LoadPairedImages', sar_channels=3))(
            dict(
                img_path=[
                    str(s2 / f'{S2_PATCH}_{b}.tif')
                    for b in ('B02', 'B03', 'B04')
                ],
                sar_path=[
                    str(s1 / f'{S1_PATCH}_{p}.tif') for p in ('VV', 'VH')
                ]))


def write_coordinate_pair(tmp_path, height=24, width=32):
    """Optical bands encode (x, y, 255 - x); SAR encodes (x + y) // 2.

    Any pixel of the SAR band can be predicted from the optical bands of the
    same pixel, so a misalignment of the two modalities shows up at once.
    """
    y, x = np.mgrid[0:height, 0:width]
    x = (x * 7) % 256
    y = (y * 9) % 256
    optical = np.stack([x, y, 255 - x], axis=2).astype(np.uint8)
    sar = ((x + y) // 2).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'opt.png'), optical)
    cv2.imwrite(str(tmp_path / 'sar.png'), sar)
    return dict(
        img_path=str(tmp_path / 'opt.png'), sar_path=str(tmp_path / 'sar.png'))


@pytest.mark.parametrize('sar_channels', [1, 3])
def test_geometric_transforms_keep_modalities_aligned(tmp_path, sar_channels):
    results = build(dict(type='LoadPairedImages', sar_channels=sar_channels))(
        write_coordinate_pair(tmp_path))
    original = results['img'].copy()
    pipeline = [
        dict(
            type='Resize',
            scale=(64, 48),
            keep_ratio=False,
            interpolation='nearest'),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        dict(type='RandomCrop', crop_size=(40, 30)),
        dict(type='MultiBandPad', size=(48, 48), pad_val=dict(img=7)),
    ]
    for cfg in pipeline:
        results = build(cfg)(results)
    img = results['img']
    assert img.shape == (48, 48, 3 + sar_channels)
    valid = img[:30, :40].astype(int)
    for band in range(3, 3 + sar_channels):
        np.testing.assert_array_equal(valid[..., band],
                                      (valid[..., 0] + valid[..., 1]) // 2)
    assert (img[30:] == 7).all() and (img[:, 40:] == 7).all()
    # nearest 2x upsampling then a horizontal flip: output pixel (r, c) of
    # the 48 x 64 image comes from source (r // 2, (63 - c) // 2)
    resized = build(
        dict(
            type='Resize',
            scale=(64, 48),
            keep_ratio=False,
            interpolation='nearest'))(dict(img=original.copy()))['img']
    flipped = build(dict(type='RandomFlip',
                         prob=1.0))(dict(img=resized))['img']
    rows, cols = np.mgrid[0:48, 0:64]
    np.testing.assert_array_equal(flipped, original[rows // 2,
                                                    (63 - cols) // 2])


def test_bilinear_resize_keeps_alignment(tmp_path):
    results = build(dict(type='LoadPairedImages', sar_channels=3))(
        write_coordinate_pair(tmp_path))
    results = build(dict(type='Resize', scale=(45, 37), keep_ratio=False))(
        results)
    img = results['img'].astype(np.float64)
    # interior pixels only: the coordinate patterns wrap around 256
    inner = img[4:-4, 4:-4]
    predicted = (inner[..., 0] + inner[..., 1]) / 2
    for band in range(3, 6):
        assert np.abs(inner[..., band] - predicted).max() <= 1.5


@pytest.mark.parametrize('bands', [4, 6])
def test_multiband_pad_matches_numpy(bands):
    img = np.random.RandomState(0).randint(
        0, 255, (5, 7, bands), dtype=np.uint8)
    out = build(
        dict(type='MultiBandPad', size_divisor=4, pad_val=dict(img=114)))(
            dict(img=img.copy()))
    expected = np.pad(img, ((0, 3), (0, 1), (0, 0)), constant_values=114)
    np.testing.assert_array_equal(out['img'], expected)
    assert out['pad_shape'] == (8, 8, bands) and out['img_shape'] == (8, 8)
    square = build(
        dict(
            type='MultiBandPad',
            pad_to_square=True,
            pad_val=dict(img=tuple(range(bands)))))(
                dict(img=img.astype(np.float32)))
    assert square['img'].shape == (7, 7, bands)
    np.testing.assert_array_equal(
        square['img'][5:, 0],
        np.tile(np.arange(bands, dtype=np.float32), (2, 1)))
    edge = build(dict(type='MultiBandPad', size=(9, 6), padding_mode='edge'))(
        dict(img=img.copy()))
    np.testing.assert_array_equal(
        edge['img'], np.pad(img, ((0, 1), (0, 2), (0, 0)), mode='edge'))


def paired_results(rng, optical=None, sar=None, sar_bands=1):
    optical = rng.randint(0, 256, (16, 16, 3)).astype(np.uint8) \
        if optical is None else optical
    sar = rng.randint(0, 256, (16, 16, sar_bands)).astype(np.uint8) \
        if sar is None else sar
    return dict(
        img=np.concatenate([optical, sar], axis=2),
        modality_channels=dict(optical=3, sar=sar.shape[2]))


def test_paired_random_hsv_touches_optical_only():
    rng = np.random.RandomState(1)
    results = paired_results(rng)
    before = results['img'].copy()
    np.random.seed(0)
    out = build(dict(type='PairedRandomHSV'))(copy.deepcopy(results))['img']
    np.testing.assert_array_equal(out[..., 3], before[..., 3])
    assert not np.array_equal(out[..., :3], before[..., :3])


def test_paired_random_hsv_value_gain_on_sar():
    # grey optical (B = G = R) has zero saturation: only the value gain acts,
    # so with the same grey image as SAR both must come out identical.
    rng = np.random.RandomState(2)
    grey = rng.randint(0, 256, (16, 16, 1)).astype(np.uint8)
    results = paired_results(rng, np.repeat(grey, 3, axis=2), grey)
    for seed in range(3):
        np.random.seed(seed)
        out = build(dict(type='PairedRandomHSV', value_gain_on_sar=True))(
            copy.deepcopy(results))['img']
        assert not np.array_equal(out[..., 3], grey[..., 0])
        for band in range(3):
            np.testing.assert_array_equal(out[..., band], out[..., 3])


def test_sar_random_gain_touches_sar_only():
    rng = np.random.RandomState(3)
    sar = rng.randint(20, 120, (16, 16, 3)).astype(np.uint8)
    sar[..., 1] = sar[..., 2] = sar[..., 0]
    results = paired_results(rng, sar=sar)
    before = results['img'].copy()
    np.random.seed(0)
    out = build(dict(type='SARRandomGain', gain_range=(1.5, 2.0),
                     prob=1.0))(copy.deepcopy(results))['img']
    np.testing.assert_array_equal(out[..., :3], before[..., :3])
    ratio = out[..., 3:].astype(float) / before[..., 3:]
    gain = np.median(ratio)
    assert 1.5 <= gain <= 2.0
    # one global gain, up to the rounding to uint8
    assert np.abs(out[..., 3:] - before[..., 3:] * gain).max() <= 0.5 + 1e-9
    speckled = build(
        dict(type='SARRandomGain', gain_range=(1.0, 1.0), looks=2.0,
             prob=1.0))(copy.deepcopy(results))['img']
    # same speckle field on every SAR band: grey stays grey
    np.testing.assert_array_equal(speckled[..., 3], speckled[..., 4])
    np.testing.assert_array_equal(speckled[..., 3], speckled[..., 5])
    assert not np.array_equal(speckled[..., 3], before[..., 3])


class InvertBands:
    """Test-only photometric transform: 255 - img, for any band count."""

    def __call__(self, results):
        results['img'] = 255 - results['img']
        return results


class HalveToFloat:
    """Test-only transform returning float32 (img / 2)."""

    def __call__(self, results):
        results['img'] = results['img'].astype(np.float32) / 2
        return results


def test_per_modality_wrapper():
    rng = np.random.RandomState(4)
    results = paired_results(rng, sar_bands=3)
    before = results['img'].copy()
    for modality, bands, others in (('sar', slice(3, 6), slice(0, 3)),
                                    ('optical', slice(0, 3), slice(3, 6))):
        out = build(
            dict(
                type='PerModality',
                modality=modality,
                transforms=[InvertBands()]))(copy.deepcopy(results))['img']
        np.testing.assert_array_equal(out[..., bands],
                                      255 - before[..., bands])
        np.testing.assert_array_equal(out[..., others], before[..., others])
    # a transform returning float32 promotes the whole image
    halved = build(
        dict(
            type='PerModality',
            modality='optical',
            transforms=[HalveToFloat()]))(copy.deepcopy(results))['img']
    assert halved.dtype == np.float32
    np.testing.assert_array_equal(halved[..., :3], before[..., :3] / 2)
    np.testing.assert_array_equal(halved[..., 3:], before[..., 3:])
    with pytest.raises(ValueError, match='keep the size'):
        build(
            dict(
                type='PerModality',
                modality='optical',
                transforms=[
                    dict(type='Resize', scale=(8, 8), keep_ratio=False)
                ]))(
                    copy.deepcopy(results))
    with pytest.raises(KeyError, match='modality_channels'):
        build(dict(type='SARRandomGain', prob=1.0))(dict(img=before))


def marked_sample(rng, size, num_sar=1, marker=250):
    """Random paired sample with one rotated box on a marker square.

    Every band holds ``marker`` inside a 9 x 9 square at the box centre, so
    any transform that moves pixels and boxes consistently keeps the marker
    value under each box centre, in every band.
    """
    from mmosar.structures.bbox import RotatedBoxes
    img = rng.randint(0, 200, (size, size, 3 + num_sar)).astype(np.uint8)
    cx, cy = rng.randint(12, size - 12, 2)
    img[cy - 4:cy + 5, cx - 4:cx + 5] = marker
    return dict(
        img=img,
        img_shape=img.shape[:2],
        modality_channels=dict(optical=3, sar=num_sar),
        gt_bboxes=RotatedBoxes(
            np.array([[cx, cy, 8.0, 6.0, 0.4]], dtype=np.float32)),
        gt_bboxes_labels=np.array([0]),
        gt_ignore_flags=np.array([False]))


def marker_under_boxes(results, marker=250):
    boxes = results['gt_bboxes'].tensor.numpy()
    img = results['img']
    for cx, cy in boxes[:, :2]:
        assert (img[int(round(cy)), int(round(cx))] == marker).all(), (cx, cy)
    return len(boxes)


@pytest.mark.parametrize('num_sar', [1, 3])
def test_paired_mosaic(num_sar):
    rng = np.random.RandomState(5)
    samples = [marked_sample(rng, 64, num_sar) for _ in range(4)]
    results = dict(samples[0], mix_results=samples[1:])
    np.random.seed(0)
    out = build(dict(type='PairedMosaic', img_scale=(64, 64), pad_val=114))(
        copy.deepcopy(results))
    img = out['img']
    assert img.shape == (128, 128, 3 + num_sar)
    assert out['img_shape'] == (128, 128)
    # every tile pixel comes from one of the inputs (scale 1: no resampling)
    pixels = {
        tuple(p)
        for s in samples
        for p in s['img'].reshape(-1, 3 + num_sar)
    }
    pad = (114, ) * (3 + num_sar)
    assert all(
        tuple(p) in pixels or tuple(p) == pad
        for p in img.reshape(-1, 3 + num_sar)[::7])
    num = marker_under_boxes(out)
    assert num == len(out['gt_bboxes_labels']) == len(out['gt_ignore_flags'])
    assert 1 <= num <= 4
    with pytest.raises(ValueError, match='same bands'):
        bad = copy.deepcopy(results)
        bad['mix_results'][1] = marked_sample(rng, 64, num_sar + 1)
        build(dict(type='PairedMosaic', img_scale=(64, 64)))(bad)
    with pytest.raises(KeyError, match='MultiImageMixDataset'):
        build(dict(type='PairedMosaic'))(copy.deepcopy(samples[0]))


def test_paired_random_affine_border_reaches_every_band():
    rng = np.random.RandomState(6)
    results = marked_sample(rng, 64, num_sar=3)
    results['img'][:] = 7
    results['img'][28:37, 28:37] = 250
    results['gt_bboxes'].tensor[:, :2] = 32.0
    np.random.seed(1)
    out = build(
        dict(
            type='PairedRandomAffine',
            max_rotate_degree=0,
            max_shear_degree=0,
            max_translate_ratio=0.0,
            scaling_ratio_range=(0.5, 0.5)))(
                copy.deepcopy(results))
    img = out['img'].reshape(-1, 6)
    # each pixel is the image (7), the marker (250, resampled at its edge)
    # or the border (114) in ALL bands: no band is left at 0
    assert (img.min(axis=1) == img.max(axis=1)).all()
    assert (img[:, 0] == 114).sum() > 0 and (img == 0).sum() == 0
    assert marker_under_boxes(out) == 1
    with pytest.raises(ValueError, match='one value per band'):
        build(dict(type='PairedRandomAffine', border_val=(114, 114, 114)))(
            copy.deepcopy(results))


@pytest.mark.parametrize('num_sar', [1, 3])
def test_mmdet_geometry_moves_rotated_boxes_with_both_modalities(num_sar):
    rng = np.random.RandomState(7)
    results = marked_sample(rng, 64, num_sar)
    results['img'][:] = rng.randint(0, 200, results['img'].shape)
    results['img'][28:37, 24:33] = 250
    results['gt_bboxes'].tensor[:, :2] = torch.tensor([28.0, 32.0])
    np.random.seed(2)
    pipeline = [
        dict(type='RandomCrop', crop_size=(56, 56)),
        dict(type='Resize', scale=(112, 112), keep_ratio=True),
        dict(
            type='RandomFlip',
            prob=1.0,
            direction=['horizontal', 'vertical', 'diagonal']),
        dict(type='MultiBandPad', size=(128, 128), pad_val=dict(img=0)),
    ]
    for cfg in pipeline:
        results = build(cfg)(results)
    assert results['img'].shape == (128, 128, 3 + num_sar)
    assert marker_under_boxes(results) == 1
