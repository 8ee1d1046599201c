"""Installs `ecg`: deep learning on electrocardiograms with chainable batch pipelines."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# ecg export / ecg predict on .onnx and .tflite files (versions that keep the tensorflow-cpu, keras and numpy pins).
EXPORT = ["onnx>=1.17,<1.24", "onnxruntime>=1.20,<1.33", "tf2onnx==1.17.0", "ai-edge-litert>=2.0,<2.4"]

# ecg preprocess on a Dask cluster (dask.distributed; bokeh too for the dashboard's pages).
DASK = ["dask[distributed]>=2024.8"]

TEST = [
    "tensorflow-cpu==2.21.0", "keras==3.15.1",
    "jax==0.10.2", "jaxlib==0.10.2",
    "pytest>=8", "pytest-xdist>=3.5", "pytest-timeout>=2.2", "hypothesis>=6.100",
    "pyflakes>=3", "neurokit2>=0.2",
    "nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6.25",       # tests/test_notebooks.py runs notebooks/
    *EXPORT, *DASK,
]

setup(
    name="ecg",
    version="0.1.0",
    description="Deep learning on electrocardiograms: PhysioNet loading, preprocessing, "
                "Keras 3 models and batch pipelines",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["ecg", "ecg.*"]),
    package_data={"ecg": ["data/manifests/*.json", "zoo/index.json", "zoo/*/*.json", "zoo/*/*.npz"]},
    install_requires=[
        "numpy>=2.0,<2.5",
        "scipy>=1.13,<1.18",
        "pandas>=2.2,<3.1",
        "wfdb>=4.1,<4.4",
        "batchflow==0.10.1",
        "pydantic>=2.6,<3",
        "tqdm>=4.60",
        "matplotlib>=3.8",
        "pyyaml>=6",
        "scikit-learn>=1.4",
        "pydicom>=2.4,<4",
        "PyWavelets>=1.4,<2",
    ],
    extras_require={
        # Keras 3 on TensorFlow (the default backend on CPU).
        "tf": ["tensorflow-cpu==2.21.0", "keras==3.15.1"],
        # Keras 3 on JAX (backend-agnostic model tests, GPU benchmarks).
        "jax": ["keras==3.15.1", "jax==0.10.2", "jaxlib==0.10.2"],
        # ONNX (tf2onnx, ONNX Runtime) and LiteRT (ai-edge-litert) export; Keras on TensorFlow.
        "export": ["tensorflow-cpu==2.21.0", "keras==3.15.1", *EXPORT],
        "dask": DASK,
        "test": TEST,
        "dev": TEST,
    },
    entry_points={"console_scripts": ["ecg=ecg.cli:main"]},
)
