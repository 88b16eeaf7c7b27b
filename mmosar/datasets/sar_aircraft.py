"""SAR-AIRcraft-1.0 (Gaofen-3, 1 m; 7 aircraft classes, horizontal boxes)
and :class:`VOCStyleHBBDataset`, the shared VOC-XML horizontal-box loader
(also used by ShipRSImageNet)."""
import glob
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional, Sequence, Tuple, Union

from mmdet.datasets import XMLDataset

from mmosar.registry import DATASETS

IMAGE_EXTENSIONS = ('.bmp', '.jpg', '.jpeg', '.png', '.tif', '.tiff')


def xml_number(node: Optional[ET.Element], tag: str, where: str) -> float:
    """Float value of child ``tag`` of ``node``; errors name ``where``."""
    child = None if node is None else node.find(tag)
    if child is None or child.text is None:
        raise ValueError(f'{where}: missing <{tag}>')
    try:
        return float(child.text)
    except ValueError:
        raise ValueError(f'{where}: <{tag}> is not a number: '
                         f'{child.text!r}') from None


def read_id_list(path: str) -> List[Tuple[int, str]]:
    """``(line number, image id)`` of an ImageSets list.

    A line is an image id or an image file name (ShipRSImageNet lists
    ``xxx.bmp``): a known image extension (:data:`IMAGE_EXTENSIONS`) is
    removed, so ``xxx.bmp`` is the image id ``xxx`` with annotation
    ``xxx.xml``. Blank lines are skipped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image-id list {path!r} does not exist')
    ids = []
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            name = line.strip()
            if not name:
                continue
            stem, ext = osp.splitext(name)
            ids.append((line_no, stem if ext.lower() in IMAGE_EXTENSIONS
                        else name))
    return ids


class VOCStyleHBBDataset(XMLDataset):
    """VOC-style XML detection dataset (one ``<id>.xml`` per image).

    Differences from mmdet's :class:`~mmdet.datasets.XMLDataset`:
    ``ann_file`` may be empty (every XML of ``ann_subdir`` is used) or a
    list of id lists read in order (e.g. train + val; an image listed twice
    is an error); list lines may carry the image extension (``xxx.bmp``:
    id ``xxx``, annotation ``xxx.xml``); the
    image file name comes from the XML ``<filename>`` when present;
    malformed XML, missing fields and unknown classes raise errors naming
    the file (and object); boxes stay float and, by default, are not
    shifted by one pixel; ``ede_mask_dir`` attaches IFKD's cached EDE masks
    (``<id>.png``) as ``seg_map_path`` so that
    ``LoadAnnotations(with_seg=True)`` loads them and every geometric
    transform moves them with the image.

    Args:
        ann_file: ImageSets id list, several of them, or '' (all XML).
        img_suffix: Image extension used when the XML has no filename.
        minus_one: Subtract 1 from box coordinates (VOC convention).
        ede_mask_dir: Folder of cached EDE masks, or None.
        **kwargs: :class:`~mmdet.datasets.XMLDataset` arguments
            (``img_subdir``, ``ann_subdir``, ``data_root``, ...).
    """

    def __init__(self,
                 *args,
                 ann_file: Union[str, Sequence[str]] = '',
                 img_suffix: str = 'jpg',
                 minus_one: bool = False,
                 ede_mask_dir: Optional[str] = None,
                 **kwargs) -> None:
        self.img_suffix = '.' + img_suffix.lstrip('.')
        self.minus_one = minus_one
        self.ede_mask_dir = ede_mask_dir
        # several id lists (e.g. train + val) are read in order
        self.ann_files = [ann_file] if isinstance(ann_file, str) \
            else list(ann_file)
        super().__init__(*args, ann_file='', **kwargs)

    def _image_ids(self) -> List[str]:
        lists = [f for f in self.ann_files if f]
        if lists:
            ids, seen = [], {}
            for ann_file in lists:
                if not osp.isabs(ann_file) and self.data_root:
                    ann_file = osp.join(self.data_root, ann_file)
                for line_no, img_id in read_id_list(ann_file):
                    if img_id in seen:
                        raise ValueError(
                            f'{ann_file}:{line_no}: image {img_id!r} is '
                            f'already listed in {seen[img_id]}')
                    seen[img_id] = f'{ann_file}:{line_no}'
                    ids.append(img_id)
            return ids
        ann_dir = osp.join(self.sub_data_root or self.data_root or '',
                           self.ann_subdir)
        files = sorted(glob.glob(osp.join(ann_dir, '*.xml')))
        if not files:
            raise FileNotFoundError(f'no *.xml annotation in {ann_dir!r}')
        return [osp.splitext(osp.basename(f))[0] for f in files]

    def load_data_list(self) -> List[dict]:
        """One data info per image id."""
        classes = self._metainfo.get('classes')
        if not classes:
            raise ValueError(f'{type(self).__name__} needs metainfo classes')
        self.cat2label = {name: i for i, name in enumerate(classes)}
        root_dir = self.sub_data_root or self.data_root or ''
        if self.ede_mask_dir and not osp.isdir(self.ede_mask_dir):
            raise FileNotFoundError(
                f'ede_mask_dir {self.ede_mask_dir!r} does not exist; create '
                'it with tools/ifkd/cache_ede_masks.py')
        data_list = []
        for img_id in self._image_ids():
            xml_path = osp.join(root_dir, self.ann_subdir, img_id + '.xml')
            data_list.append(
                self.parse_data_info(
                    dict(img_id=img_id, xml_path=xml_path,
                         root_dir=root_dir)))
        return data_list

    def parse_data_info(self, img_info: dict) -> dict:
        """Parse one XML file into an mmdet data info."""
        xml_path = img_info['xml_path']
        if not osp.isfile(xml_path):
            raise FileNotFoundError(
                f'annotation {xml_path} of image {img_info["img_id"]!r} '
                'does not exist')
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as error:
            raise ValueError(f'{xml_path}: malformed XML ({error})') from None
        name_node = root.find('filename')
        file_name = name_node.text.strip() if name_node is not None and \
            name_node.text else img_info['img_id'] + self.img_suffix
        size = root.find('size')
        where = f'{xml_path}: <size>'
        data_info = dict(
            img_id=img_info['img_id'],
            xml_path=xml_path,
            img_path=osp.join(img_info['root_dir'], self.img_subdir,
                              file_name),
            width=int(xml_number(size, 'width', where)),
            height=int(xml_number(size, 'height', where)),
            instances=[
                self.parse_object(obj, f'{xml_path}: object {i}')
                for i, obj in enumerate(root.findall('object'))
            ])
        if self.ede_mask_dir:
            data_info['seg_map_path'] = osp.join(self.ede_mask_dir,
                                                 img_info['img_id'] + '.png')
        return data_info

    def class_name(self, obj: ET.Element, where: str) -> str:
        """Class name of one object (``<name>``)."""
        node = obj.find('name')
        if node is None or not node.text:
            raise ValueError(f'{where}: missing <name>')
        return node.text.strip()

    def parse_object(self, obj: ET.Element, where: str) -> dict:
        """One instance: ``bbox`` (x1, y1, x2, y2), label, ignore flag."""
        name = self.class_name(obj, where)
        if name not in self.cat2label:
            raise ValueError(
                f'{where}: unknown class {name!r}; classes are '
                f'{list(self.cat2label)}')
        box = obj.find('bndbox')
        if box is None:
            raise ValueError(f'{where}: missing <bndbox>')
        bbox = [
            xml_number(box, tag, where)
            for tag in ('xmin', 'ymin', 'xmax', 'ymax')
        ]
        if bbox[2] < bbox[0] or bbox[3] < bbox[1]:
            raise ValueError(f'{where}: box {bbox} has xmax < xmin or '
                             'ymax < ymin')
        if self.minus_one:
            bbox = [v - 1 for v in bbox]
        difficult = obj.find('difficult')
        ignore = difficult is not None and difficult.text is not None \
            and difficult.text.strip() not in ('', '0')
        min_size = self.bbox_min_size
        if min_size is not None and not self.test_mode and (
                bbox[2] - bbox[0] < min_size or bbox[3] - bbox[1] < min_size):
            ignore = True
        return dict(
            bbox=bbox, bbox_label=self.cat2label[name],
            ignore_flag=int(ignore))


@DATASETS.register_module()
class SARAircraftDataset(VOCStyleHBBDataset):
    """SAR-AIRcraft-1.0: VOC XML horizontal boxes, 7 classes.

    Layout: ``<data_root>/<img_subdir>/<id>.jpg`` and
    ``<data_root>/Annotations/<id>.xml``; ``ann_file`` is an ImageSets list
    or empty (all XML files). Class names contain '/' (``A320/321``).
    """

    METAINFO = dict(
        classes=('A220', 'A320/321', 'A330', 'ARJ21', 'Boeing737',
                 'Boeing787', 'other'),
        palette=[(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230),
                 (106, 0, 228), (0, 60, 100), (0, 80, 100)])

    def __init__(self, *args, img_subdir: str = 'JPEGImages',
                 **kwargs) -> None:
        super().__init__(*args, img_subdir=img_subdir, **kwargs)

