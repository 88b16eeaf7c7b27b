"""Base of the rotated-box datasets annotated with one XML file per image
(DIOR-R, HRSC2016)."""
import glob
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Tuple

from .base_rotated import RotatedDetDataset


class RotatedXMLDataset(RotatedDetDataset):
    """Images listed by id, one ``<id>.xml`` annotation each.

    ``ann_file`` is either an ImageSets text file with one image id per line
    (the XML files are then read from ``data_prefix['ann_path']``) or a
    folder of XML files (all of them are used). Images are
    ``data_prefix['img_path']/<id><img_suffix>``.

    Subclasses implement :meth:`parse_annotation`.

    Args:
        img_suffix: Image file extension, with or without the dot.
        **kwargs: :class:`RotatedDetDataset` arguments.
    """

    def __init__(self, *args, img_suffix: str = 'jpg', **kwargs) -> None:
        self.img_suffix = '.' + img_suffix.lstrip('.')
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One data info per listed image id."""
        img_ids, ann_dir = self._image_ids_and_ann_dir()
        img_dir = self.data_prefix.get('img_path', '')
        data_list = []
        for img_id in img_ids:
            xml_path = osp.join(ann_dir, img_id + '.xml')
            if not osp.isfile(xml_path):
                raise FileNotFoundError(
                    f'annotation {xml_path} of image id {img_id!r} '
                    f'(listed in {self.ann_file}) does not exist')
            try:
                root = ET.parse(xml_path).getroot()
            except ET.ParseError as error:
                raise ValueError(
                    f'{xml_path}: malformed XML ({error})') from None
            width, height, instances = self.parse_annotation(root, xml_path)
            file_name = img_id + self.img_suffix
            data_list.append(
                dict(
                    img_id=img_id,
                    file_name=file_name,
                    img_path=osp.join(img_dir, file_name),
                    width=width,
                    height=height,
                    instances=instances))
        return data_list

    def _image_ids_and_ann_dir(self) -> Tuple[List[str], str]:
        if osp.isdir(self.ann_file):
            xml_files = sorted(glob.glob(osp.join(self.ann_file, '*.xml')))
            if not xml_files:
                raise FileNotFoundError(f'no *.xml file in {self.ann_file}')
            ids = [osp.splitext(osp.basename(f))[0] for f in xml_files]
            return ids, self.ann_file
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'ann_file {self.ann_file!r} is neither an image-id list nor '
                'a folder of XML annotations')
        ann_dir = self.data_prefix.get('ann_path')
        if not ann_dir:
            raise ValueError(
                'ann_file is an image-id list, so data_prefix must give '
                "the XML folder as 'ann_path'")
        with open(self.ann_file, encoding='utf-8') as f:
            ids = [line.strip() for line in f if line.strip()]
        return ids, ann_dir

    def parse_annotation(self, root: ET.Element,
                         xml_path: str) -> Tuple[int, int, List[dict]]:
        """Image size and instances of one XML annotation.

        Args:
            root: Root element of the XML file.
            xml_path: The file, for error messages.

        Returns:
            ``(width, height, instances)``; instances are built with
            :meth:`make_instance`.
        """
        raise NotImplementedError


def xml_text(element: ET.Element, tag: str, where: str) -> str:
    """Text of the child ``tag`` of ``element``; raises naming ``where``."""
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f'{where}: missing or empty <{tag}>')
    return child.text.strip()


def xml_number(element: ET.Element, tag: str, where: str) -> float:
    """Float value of the child ``tag`` of ``element``."""
    text = xml_text(element, tag, where)
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f'{where}: <{tag}> must be a number, got {text!r}') from None


def xml_int_or_default(element: ET.Element,
                       tag: str,
                       where: str,
                       default: int = 0) -> int:
    """Integer value of an optional child ``tag`` (``default`` if absent)."""
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return default
    return int(xml_number(element, tag, where))
