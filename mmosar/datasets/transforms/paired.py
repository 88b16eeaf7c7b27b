"""Transforms for paired optical + SAR samples.

A paired sample is ONE multi-band image: :class:`LoadPairedImages` stacks the
optical bands and then the SAR bands on the channel axis and records how many
bands each modality has in ``results['modality_channels']``, e.g.
``dict(optical=3, sar=1)``. mmdet's geometric transforms (``Resize``,
``RandomFlip``, ``RandomCrop``) then move both modalities together, so they
stay pixel-aligned. Photometric transforms act on one modality's bands only:
:class:`PairedRandomHSV` (optical), :class:`SARRandomGain` (SAR) and the
generic :class:`PerModality` wrapper.

OpenCV takes border / pad values as 4-element scalars applied in groups of 4
bands, which breaks upstream transforms on paired images: mmdet's ``Pad``
fails for more than 4 bands (and pads bands 1-3 with 0 when the value is a
float), mmdet's ``RandomAffine`` leaves band 3 at 0 with its default border,
and mmdet's ``Mosaic`` builds a 3-band canvas. :class:`MultiBandPad`,
:class:`PairedRandomAffine` and :class:`PairedMosaic` are the band-count
agnostic versions. The M4-SAR training recipe's mosaic + random scale /
translation is :class:`PairedMosaic` followed by
:class:`~mmosar.datasets.transforms.rotated.RandomCenteredAffine` (centred
like the release; :class:`PairedRandomAffine` is mmdet's, which scales about
the origin and keeps the top-left corner).

Value scale: every modality reaches the data preprocessor on the 8-bit scale.
8-bit files are kept as they are. Files of any other type (uint16 optical,
float32 SAR in dB...) are mapped linearly from ``optical_range`` /
``sar_range`` to [0, 255] and clipped, as float32; a range of None keeps
their raw values (as float32).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.image import imresize
from mmcv.transforms import BaseTransform, Compose
from mmdet.datasets.transforms import Pad, RandomAffine
from mmdet.structures.bbox import autocast_box_type
from mmengine.fileio import get

from mmosar.registry import TRANSFORMS

PathOrPaths = Union[str, Sequence[str]]


def modality_slices(modality_channels: Dict[str, int]) -> Dict[str, slice]:
    """Channel slice of each modality of a stacked paired image.

    Args:
        modality_channels: Number of bands per modality in stacking order,
            e.g. ``dict(optical=3, sar=1)``.

    Returns:
        dict: modality -> ``slice`` along the channel axis, e.g.
        ``dict(optical=slice(0, 3), sar=slice(3, 4))``.
    """
    slices, start = {}, 0
    for name, num in modality_channels.items():
        if int(num) <= 0:
            raise ValueError(f'modality {name!r} must have at least one '
                             f'band, got {num} in {modality_channels}')
        slices[name] = slice(start, start + int(num))
        start += int(num)
    return slices


def _get_modality_slice(results: dict, modality: str, transform: str) -> slice:
    """Slice of ``modality`` in ``results['img']``, with clear errors."""
    if 'modality_channels' not in results:
        raise KeyError(f'{transform} needs results["modality_channels"]; '
                       'load the sample with LoadPairedImages')
    slices = modality_slices(results['modality_channels'])
    if modality not in slices:
        raise KeyError(f'{transform}: no modality {modality!r} in '
                       f'modality_channels={results["modality_channels"]}')
    total = sum(results['modality_channels'].values())
    img = results['img']
    bands = 1 if img.ndim == 2 else img.shape[2]
    if bands != total:
        raise ValueError(
            f'{transform}: image has {bands} bands but modality_channels='
            f'{results["modality_channels"]} adds up to {total}')
    return slices[modality]


def read_image_bands(
        paths: PathOrPaths, value_range: Optional[Tuple[float, float]],
        backend_args: Optional[dict]) -> Tuple[np.ndarray, List[str]]:
    """Read one or several files and stack their bands (H, W, C).

    Files are decoded with OpenCV ``IMREAD_UNCHANGED`` (8/16-bit, float
    GeoTIFF, any band count; colour files come as BGR).

    Args:
        paths: One file or a list of files of the same size.
        value_range: (low, high) mapped linearly to [0, 255] (clipped) for
            files that are not 8-bit; None keeps their raw values.
        backend_args: mmengine file backend arguments.

    Returns:
        tuple: The stacked bands (uint8 if every file is 8-bit and no
        mapping happened, else float32) and the list of paths read.
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    if not paths:
        raise ValueError('empty list of image paths')
    bands, shape = [], None
    for path in paths:
        buffer = np.frombuffer(get(path, backend_args=backend_args), np.uint8)
        img = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise OSError(f'cannot decode image {path}')
        img = img[..., None] if img.ndim == 2 else img
        if shape is not None and img.shape[:2] != shape:
            raise ValueError(
                f'bands of one modality must have the same size: {path} is '
                f'{img.shape[1]}x{img.shape[0]} (W x H) but {paths[0]} is '
                f'{shape[1]}x{shape[0]}')
        shape = img.shape[:2]
        if img.dtype != np.uint8:
            img = img.astype(np.float32)
            if value_range is not None:
                low, high = value_range
                img = np.clip((img - low) * (255.0 / (high - low)), 0, 255)
        bands.append(img)
    if any(b.dtype != np.uint8 for b in bands):
        bands = [b.astype(np.float32) for b in bands]
    return np.concatenate(bands, axis=2), paths


@TRANSFORMS.register_module()
class LoadPairedImages(BaseTransform):
    """Load an optical and a SAR image and stack them into one image.

    Required keys: ``img_path`` (optical) and ``sar_path``. Each may be a
    path or a list of paths whose bands are stacked in order (e.g. separate
    GeoTIFF bands ``[B02, B03, B04]`` or SAR ``[VV, VH]``). Optical bands are
    expected in BGR order, as OpenCV reads colour files (the data
    preprocessor converts them to RGB).

    Added keys: ``img`` (H, W, optical_channels + sar_channels), optical
    bands first, ``img_shape``, ``ori_shape`` ((H, W)) and
    ``modality_channels`` (``dict(optical=..., sar=...)``).

    Args:
        optical_channels: Bands expected for the optical image.
        sar_channels: Bands of SAR in the output: 1 or as many as read. A
            3-band SAR file (grey stored as 3 bands, as M4-SAR releases it)
            becomes 1 band with an OpenCV BGR->grey conversion when
            ``sar_channels=1``; a 1-band file is replicated when
            ``sar_channels=3``.
        optical_range: (low, high) mapped to [0, 255] for optical files that
            are not 8-bit; None keeps their raw values.
        sar_range: Same for SAR; defaults to (-30, 5), a backscatter range
            in dB that covers Sentinel-1 VV and VH.
        to_float32: Return float32 even for 8-bit inputs.
        backend_args: mmengine file backend arguments.

    Raises:
        ValueError: optical and SAR sizes differ (names both files), or a
            modality has an unexpected number of bands (names the files).
    """

    def __init__(self,
                 optical_channels: int = 3,
                 sar_channels: int = 1,
                 optical_range: Optional[Tuple[float, float]] = None,
                 sar_range: Optional[Tuple[float, float]] = (-30.0, 5.0),
                 to_float32: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        for name, value_range in (('optical_range', optical_range),
                                  ('sar_range', sar_range)):
            if value_range is not None and not value_range[1] > value_range[0]:
                raise ValueError(f'{name} must be (low, high) with high > '
                                 f'low, got {value_range}')
        self.optical_channels = optical_channels
        self.sar_channels = sar_channels
        self.optical_range = optical_range
        self.sar_range = sar_range
        self.to_float32 = to_float32
        self.backend_args = backend_args

    def _sar_bands(self, sar: np.ndarray, paths: List[str]) -> np.ndarray:
        """Convert the SAR bands read to ``sar_channels`` bands."""
        bands = sar.shape[2]
        if bands == self.sar_channels:
            return sar
        if bands == 3 and self.sar_channels == 1:
            return cv2.cvtColor(sar, cv2.COLOR_BGR2GRAY)[..., None]
        if bands == 1 and self.sar_channels > 1:
            return np.repeat(sar, self.sar_channels, axis=2)
        raise ValueError(f'SAR {paths} has {bands} band(s); cannot make '
                         f'sar_channels={self.sar_channels} from it')

    def transform(self, results: dict) -> dict:
        """Read, check and stack the pair (see the class docstring)."""
        optical, opt_paths = read_image_bands(results['img_path'],
                                              self.optical_range,
                                              self.backend_args)
        sar, sar_paths = read_image_bands(results['sar_path'], self.sar_range,
                                          self.backend_args)
        if optical.shape[2] != self.optical_channels:
            raise ValueError(
                f'optical {opt_paths} has {optical.shape[2]} band(s), '
                f'expected optical_channels={self.optical_channels}')
        sar = self._sar_bands(sar, sar_paths)
        if optical.shape[:2] != sar.shape[:2]:
            raise ValueError(
                'optical and SAR images of a pair must have the same size: '
                f'optical {opt_paths} is {optical.shape[1]}x'
                f'{optical.shape[0]} (W x H), SAR {sar_paths} is '
                f'{sar.shape[1]}x{sar.shape[0]}')
        if optical.dtype != sar.dtype or self.to_float32:
            optical = optical.astype(np.float32)
            sar = sar.astype(np.float32)
        img = np.concatenate([optical, sar], axis=2)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['modality_channels'] = dict(
            optical=optical.shape[2], sar=sar.shape[2])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'optical_channels={self.optical_channels}, '
                f'sar_channels={self.sar_channels}, '
                f'optical_range={self.optical_range}, '
                f'sar_range={self.sar_range}, '
                f'to_float32={self.to_float32})')


def _write_back(img: np.ndarray, bands: slice,
                new_bands: np.ndarray) -> np.ndarray:
    """Replace ``img[..., bands]``, promoting the dtype when needed."""
    new_bands = new_bands.reshape(img.shape[:2] + (-1, ))
    if new_bands.dtype != img.dtype:
        img = img.astype(np.result_type(img.dtype, new_bands.dtype))
    else:
        img = img.copy()
    img[..., bands] = new_bands
    return img


@TRANSFORMS.register_module()
class PairedRandomHSV(BaseTransform):
    """Random hue / saturation / value gains on the optical bands only.

    Gains are drawn uniformly in ``1 +- (hue_delta, saturation_gain,
    value_gain)`` and applied in OpenCV's HSV space (hue wraps around).
    Defaults are those of M4-SAR's training recipe (0.015, 0.7, 0.4).
    Float bands are rounded to 8-bit for the conversion and returned as
    float32.

    The released M4-SAR code converts the grey SAR to HSV too, with the same
    gains; for a grey image only the value gain has an effect.
    ``value_gain_on_sar=True`` reproduces that by scaling the SAR bands by
    the same value gain; the default leaves SAR to :class:`SARRandomGain`.

    Required keys: ``img``, ``modality_channels``. Modified: ``img``.

    Args:
        hue_delta: Hue gain amplitude.
        saturation_gain: Saturation gain amplitude.
        value_gain: Value (brightness) gain amplitude.
        value_gain_on_sar: Also scale the SAR bands by the value gain.
        prob: Probability of applying the transform.
    """

    def __init__(self,
                 hue_delta: float = 0.015,
                 saturation_gain: float = 0.7,
                 value_gain: float = 0.4,
                 value_gain_on_sar: bool = False,
                 prob: float = 1.0) -> None:
        self.gains = np.array([hue_delta, saturation_gain, value_gain])
        self.value_gain_on_sar = value_gain_on_sar
        self.prob = prob

    def transform(self, results: dict) -> dict:
        """Jitter the optical bands (and optionally SAR brightness)."""
        if np.random.rand() >= self.prob:
            return results
        bands = _get_modality_slice(results, 'optical', 'PairedRandomHSV')
        img = results['img']
        optical = img[..., bands]
        if optical.shape[2] != 3:
            raise ValueError('PairedRandomHSV needs 3 optical bands (BGR), '
                             f'got {optical.shape[2]}')
        gain_h, gain_s, gain_v = 1.0 + np.random.uniform(-1, 1, 3) * self.gains
        levels = np.arange(256, dtype=np.float64)
        lut_h = np.mod(levels * gain_h, 180).astype(np.uint8)
        lut_s = np.clip(levels * gain_s, 0, 255).astype(np.uint8)
        lut_v = np.clip(levels * gain_v, 0, 255).astype(np.uint8)
        bgr = np.clip(np.round(optical), 0, 255).astype(np.uint8)
        hue, sat, val = cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))
        hsv = cv2.merge([lut_h[hue], lut_s[sat], lut_v[val]])
        jittered = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(img.dtype)
        img = _write_back(img, bands, jittered)
        if self.value_gain_on_sar:
            sar = _get_modality_slice(results, 'sar', 'PairedRandomHSV')
            scaled = np.clip(img[..., sar].astype(np.float64) * gain_v, 0, 255)
            img[..., sar] = scaled.astype(img.dtype)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        hue, sat, val = self.gains
        return (f'{self.__class__.__name__}(hue_delta={hue}, '
                f'saturation_gain={sat}, value_gain={val}, '
                f'value_gain_on_sar={self.value_gain_on_sar}, '
                f'prob={self.prob})')


@TRANSFORMS.register_module()
class SARRandomGain(BaseTransform):
    """Random global gain and optional extra speckle on the SAR bands only.

    The SAR bands (on the 0-255 scale set by :class:`LoadPairedImages`) are
    multiplied by a gain drawn uniformly in ``gain_range`` and, if ``looks``
    is set, by a gamma-distributed speckle field ``Gamma(looks, 1/looks)``
    (mean 1; the same field for every SAR band, so grey stays grey). The
    result is clipped to [0, 255] and keeps the input dtype.

    Required keys: ``img``, ``modality_channels``. Modified: ``img``.

    Args:
        gain_range: (low, high) of the global gain.
        looks: Number of looks of the added speckle; None adds none.
            Smaller values give stronger speckle.
        prob: Probability of applying the transform.
    """

    def __init__(self,
                 gain_range: Tuple[float, float] = (0.75, 1.25),
                 looks: Optional[float] = None,
                 prob: float = 0.5) -> None:
        if not 0 < gain_range[0] <= gain_range[1]:
            raise ValueError(f'gain_range must be 0 < low <= high, got '
                             f'{gain_range}')
        if looks is not None and looks <= 0:
            raise ValueError(f'looks must be positive, got {looks}')
        self.gain_range = gain_range
        self.looks = looks
        self.prob = prob

    def transform(self, results: dict) -> dict:
        """Scale (and speckle) the SAR bands."""
        if np.random.rand() >= self.prob:
            return results
        bands = _get_modality_slice(results, 'sar', 'SARRandomGain')
        img = results['img']
        sar = img[..., bands].astype(np.float64)
        factor = np.random.uniform(*self.gain_range)
        if self.looks is not None:
            factor = factor * np.random.gamma(self.looks, 1.0 / self.looks,
                                              sar.shape[:2] + (1, ))
        sar = np.clip(sar * factor, 0, 255)
        if img.dtype == np.uint8:
            sar = np.round(sar)
        results['img'] = _write_back(img, bands, sar.astype(img.dtype))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(gain_range={self.gain_range}, '
                f'looks={self.looks}, prob={self.prob})')


@TRANSFORMS.register_module()
class PerModality(BaseTransform):
    """Apply photometric transforms to the bands of one modality only.

    The wrapped transforms see a copy of ``results`` whose ``img`` holds
    only that modality's bands (2-D for a single band); only their ``img``
    is written back. They must keep the image size and band count: a
    geometric transform here would misalign the modalities, so it is an
    error.

    Example:
        ``dict(type='PerModality', modality='optical',
        transforms=[dict(type='PhotoMetricDistortion')])``

    Args:
        transforms: Transform configs (or objects) to apply.
        modality: Key in ``results['modality_channels']``.
    """

    def __init__(self,
                 transforms: List[Union[dict, BaseTransform]],
                 modality: str = 'optical') -> None:
        self.transforms = Compose(transforms)
        self.modality = modality

    def transform(self, results: dict) -> Optional[dict]:
        """Run the transforms on the modality's bands."""
        bands = _get_modality_slice(results, self.modality, 'PerModality')
        img = results['img']
        part = img[..., bands]
        if part.shape[2] == 1:
            part = part[..., 0]
        sub_results = dict(results, img=np.ascontiguousarray(part))
        sub_results = self.transforms(sub_results)
        if sub_results is None:
            return None
        new_part = sub_results['img']
        if new_part.shape[:2] != img.shape[:2] or new_part.size != (
                img.shape[0] * img.shape[1] * (bands.stop - bands.start)):
            raise ValueError(
                f'PerModality({self.modality}): {self.transforms} changed '
                f'the {self.modality} bands from {part.shape} to '
                f'{new_part.shape}; only transforms that keep the size and '
                'band count (photometric ones) may act on one modality')
        results['img'] = _write_back(img, bands, new_part)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(modality={self.modality!r}, '
                f'transforms={self.transforms})')


@TRANSFORMS.register_module()
class MultiBandPad(Pad):
    """mmdet ``Pad`` that works for any number of bands.

    Pads at the bottom and right like mmdet's ``Pad`` (fixed ``size``,
    ``size_divisor`` and/or ``pad_to_square``) but with NumPy, so images
    with more than 4 bands and float pad values are padded correctly.
    ``pad_val['img']`` may be a number or one value per band.
    Arguments are those of :class:`mmdet.datasets.transforms.Pad`.
    """

    def _target_shape(self, height: int, width: int) -> Tuple[int, int]:
        """Padded (H, W) for the configured padding mode."""
        if self.pad_to_square:
            height = width = max(height, width)
        if self.size_divisor is not None:
            divisor = self.size_divisor
            return (int(np.ceil(height / divisor)) * divisor,
                    int(np.ceil(width / divisor)) * divisor)
        if self.size is not None:
            return self.size[1], self.size[0]
        return height, width

    def _pad_img(self, results: dict) -> None:
        """Pad ``results['img']`` and record the pad keys."""
        img = results['img']
        height, width = img.shape[:2]
        target_h, target_w = self._target_shape(height, width)
        pad_h, pad_w = max(target_h - height, 0), max(target_w - width, 0)
        pad_val = self.pad_val.get('img', 0)
        if self.padding_mode == 'constant':
            padded = np.empty(
                (height + pad_h, width + pad_w) + img.shape[2:],
                dtype=img.dtype)
            padded[...] = np.asarray(pad_val, dtype=img.dtype)
            padded[:height, :width] = img
        else:
            widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (img.ndim - 2)
            padded = np.pad(img, widths, mode=self.padding_mode)
        results['img'] = padded
        results['pad_shape'] = padded.shape
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        results['img_shape'] = padded.shape[:2]


@TRANSFORMS.register_module()
class PairedRandomAffine(RandomAffine):
    """mmdet ``RandomAffine`` with a border value that reaches every band.

    OpenCV applies a warp's border value in groups of 4 bands, so mmdet's
    default ``(114, 114, 114)`` leaves band 3 (the first SAR band of a
    3 + 1 image) at 0, and bands beyond the fourth get an arbitrary pattern.
    Here ``border_val`` is one number used for every band (or a per-band
    sequence for images of at most 4 bands). Boxes are projected by their
    box type's ``project_`` (rotated boxes included). Arguments are those of
    :class:`mmdet.datasets.transforms.RandomAffine`, except ``border_val``.
    """

    def __init__(self,
                 *args,
                 border_val: Union[float, Sequence[float]] = 114,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.per_band_border = not isinstance(border_val, (int, float))
        self.border_val = tuple(
            border_val) if self.per_band_border else (float(border_val), ) * 4

    def transform(self, results: dict) -> dict:
        """Warp the image and the boxes (see mmdet's ``RandomAffine``)."""
        bands = 1 if results['img'].ndim == 2 else results['img'].shape[2]
        if self.per_band_border and (bands > 4
                                     or len(self.border_val) != bands):
            raise ValueError(
                f'border_val={self.border_val} must have one value per band '
                f'for a {bands}-band image (at most 4 bands); give a single '
                'number for more bands')
        return super().transform(results)


@TRANSFORMS.register_module()
class PairedMosaic(BaseTransform):
    """Four-image mosaic for paired (multi-band) images and any box type.

    mmdet's ``Mosaic`` builds a 3-band canvas; this one keeps every band.
    The four samples (this one and three from ``results['mix_results']``,
    filled by :class:`mmdet.datasets.MultiImageMixDataset` through
    :meth:`get_indexes`) are rescaled, keeping their aspect ratio, to fit
    ``img_scale`` and placed around a random centre of a canvas of twice
    ``img_scale`` filled with ``pad_val``: the first sample ends at the
    centre (top-left quadrant), the next ones start or end there (top-right,
    bottom-left, bottom-right). Boxes are rescaled and translated with their
    sample, dropped when their axis-aligned extent clipped to the canvas has
    no area (as the release drops them), and clipped to the canvas if
    ``bbox_clip_border`` (``RotatedBoxes.clip_``: exact intersection,
    refitted). Follow it with :class:`RandomCenteredAffine` with
    ``border=(-w // 2, -h // 2)`` to come back to ``img_scale``, as in the
    M4-SAR training recipe; there, use ``bbox_clip_border=False`` and the
    affine's ``clip_input=True``, which clamps the resampled box outlines to
    the canvas as the release does.

    Required keys: ``img``, ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``, ``modality_channels``, ``mix_results``. Modified:
    ``img``, ``img_shape``, the ``gt_*`` keys.

    Args:
        img_scale: (width, height) of one tile.
        center_ratio_range: Range of the mosaic centre, as a fraction of
            ``img_scale`` on each axis.
        pad_val: Canvas value (every band).
        bbox_clip_border: Clip boxes to the canvas.
        prob: Probability of applying the mosaic.
    """

    def __init__(self,
                 img_scale: Tuple[int, int] = (512, 512),
                 center_ratio_range: Tuple[float, float] = (0.5, 1.5),
                 pad_val: float = 114.0,
                 bbox_clip_border: bool = True,
                 prob: float = 1.0) -> None:
        self.img_scale = tuple(img_scale)
        self.center_ratio_range = center_ratio_range
        self.pad_val = pad_val
        self.bbox_clip_border = bbox_clip_border
        self.prob = prob

    def get_indexes(self, dataset) -> List[int]:
        """Indexes of the three other samples (called by
        ``MultiImageMixDataset``)."""
        return [np.random.randint(0, len(dataset)) for _ in range(3)]

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Combine four samples into one (see the class docstring)."""
        if np.random.uniform() > self.prob:
            return results
        mix = results.get('mix_results')
        if mix is None or len(mix) != 3:
            raise KeyError('PairedMosaic needs results["mix_results"] with 3 '
                           'samples: wrap the dataset in MultiImageMixDataset')
        samples = [results] + list(mix)
        channels = results.get('modality_channels')
        for sample in samples[1:]:
            if sample.get('modality_channels') != channels or sample[
                    'img'].shape[2:] != results['img'].shape[2:]:
                raise ValueError(
                    'PairedMosaic: all four samples must have the same bands, '
                    f'got {channels} and {sample.get("modality_channels")} '
                    f'({sample.get("img_path")})')
        tile_w, tile_h = self.img_scale
        canvas_h, canvas_w = 2 * tile_h, 2 * tile_w
        canvas = np.full(
            (canvas_h, canvas_w) + results['img'].shape[2:],
            self.pad_val,
            dtype=results['img'].dtype)
        center_x = int(np.random.uniform(*self.center_ratio_range) * tile_w)
        center_y = int(np.random.uniform(*self.center_ratio_range) * tile_h)

        boxes, labels, ignore_flags = [], [], []
        for k, sample in enumerate(samples):
            img = sample['img']
            scale = min(tile_h / img.shape[0], tile_w / img.shape[1])
            new_w = int(img.shape[1] * scale)
            new_h = int(img.shape[0] * scale)
            img = imresize(img, (new_w, new_h)).reshape((new_h, new_w) +
                                                        canvas.shape[2:])
            left = center_x - new_w if k in (0, 2) else center_x
            top = center_y - new_h if k in (0, 1) else center_y
            x1, y1 = max(left, 0), max(top, 0)
            x2, y2 = min(left + new_w, canvas_w), min(top + new_h, canvas_h)
            canvas[y1:y2, x1:x2] = img[y1 - top:y2 - top, x1 - left:x2 - left]
            sample_boxes = sample['gt_bboxes'].clone()
            sample_boxes.rescale_([scale, scale])
            sample_boxes.translate_([left, top])
            boxes.append(sample_boxes)
            labels.append(sample['gt_bboxes_labels'])
            ignore_flags.append(sample['gt_ignore_flags'])

        boxes = boxes[0].cat(boxes, dim=0)
        # keep the boxes whose axis-aligned extent, clipped to the canvas,
        # has a positive area (the release's remove_zero_area_boxes)
        extent = boxes.convert_to('hbox').tensor
        extent[:, 0::2] = extent[:, 0::2].clamp(0, canvas_w)
        extent[:, 1::2] = extent[:, 1::2].clamp(0, canvas_h)
        inside = ((extent[:, 2] > extent[:, 0]) &
                  (extent[:, 3] > extent[:, 1])).numpy()
        if self.bbox_clip_border:
            boxes.clip_([canvas_h, canvas_w])
        results['img'] = canvas
        results['img_shape'] = canvas.shape[:2]
        results['gt_bboxes'] = boxes[inside]
        results['gt_bboxes_labels'] = np.concatenate(labels)[inside]
        results['gt_ignore_flags'] = np.concatenate(ignore_flags)[inside]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'center_ratio_range={self.center_ratio_range}, '
                f'pad_val={self.pad_val}, '
                f'bbox_clip_border={self.bbox_clip_border}, '
                f'prob={self.prob})')
