"""Package discovery for the three source folders (metadata lives in pyproject.toml).

The installed package is ``dpsycl`` with two subpackages that live in top-level folders of the
repository: ``device_kernels/`` (installed as ``dpsycl.device_kernels``) and ``extract/``
(``dpsycl.extract``).  Every package below those roots is found, not listed, so a new folder with
an ``__init__.py`` is packaged without touching this file (tests/test_packaging.py builds the wheel
and checks that every source folder is in it).
"""
from setuptools import find_packages, setup

ROOTS = {"dpsycl": "dpsycl", "dpsycl.device_kernels": "device_kernels", "dpsycl.extract": "extract"}

packages = []
for name, folder in ROOTS.items():
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=ROOTS)
