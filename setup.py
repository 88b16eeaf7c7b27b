"""Install mmosar.

``pip install -e .`` (or ``python setup.py develop``) links ``configs/`` and
``tools/`` into ``mmosar/.mim`` so that ``mim train mmosar <config>`` finds them;
a normal install copies them there.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmosar', 'version.py')) as f:
        exec(compile(f.read(), 'mmosar/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(path: str) -> list:
    """Requirement lines of a requirements file (comments, -r and -f dropped)."""
    requirements = []
    with open(osp.join(HERE, path)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line or line.startswith('-'):
                continue
            requirements.append(line)
    return requirements


def add_mim_extension() -> None:
    """Expose configs/ and tools/ as ``mmosar/.mim/{configs,tools}``.

    Editable installs get symlinks (edits show up at once); wheels and sdists
    get copies. Nothing is done for other setup.py commands.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install'} & set(sys.argv) or \
            any(arg.startswith('bdist') for arg in sys.argv):
        mode = 'copy'
    else:
        return
    mim_root = osp.join(HERE, 'mmosar', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in ('configs', 'tools', 'demo'):
        src = osp.join(HERE, name)
        dst = osp.join(mim_root, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_root), dst)
        else:
            shutil.copytree(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmosar',
        version=read_version(),
        description='OpenMMLab extension for optical-SAR remote sensing: '
        'rotated detection, fusion detection, distillation, ReID, retrieval',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        keywords='computer vision, remote sensing, SAR, optical, detection',
        packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests')),
        include_package_data=True,
        package_data={'mmosar': ['.mim/**/*']},
        python_requires='>=3.9',
        license='Apache License 2.0',
        classifiers=[
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.11',
            'Topic :: Scientific/Engineering :: Image Recognition',
        ],
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'tests': parse_requirements('requirements/tests.txt'),
            'optional': parse_requirements('requirements/optional.txt'),
            'mim': parse_requirements('requirements/mminstall.txt'),
        },
        zip_safe=False)
