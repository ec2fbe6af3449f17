"""s2f_tf: few-shot sketch-to-face GANs in TensorFlow 2 / Keras 3."""

import setuptools

setuptools.setup(
    name="s2f_tf",
    version="0.1.0",
    description=("Train, debug, visualise and serve few-shot sketch-to-face "
                 "GANs with TensorFlow 2 and Keras 3."),
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["s2f_tf", "s2f_tf.*",
                                               "projector", "projector.*"]),
    package_data={"s2f_tf.serve": ["page.html"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.11",
        "tensorboard>=2.16",
        "opencv-python-headless>=4.8",
        "absl-py>=1.4",
        "numpy>=1.26",
        "pillow>=10",
        "matplotlib>=3.7",
        "starlette>=0.37",
        "uvicorn>=0.29",
    ],
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3.2", "httpx2>=2",
                             "playwright>=1.44"]},
    entry_points={
        "console_scripts": [
            "s2f-train=s2f_tf.cli.train_main:main",
            "s2f-eval=s2f_tf.cli.eval_main:main",
            "s2f-data=s2f_tf.cli.data_main:main",
            "s2f-project=s2f_tf.cli.project_main:main",
            "s2f-export=s2f_tf.cli.export_main:main",
            "s2f-sample=s2f_tf.cli.sample_main:main",
            "s2f-report=s2f_tf.cli.report_main:main",
            "s2f-serve=s2f_tf.cli.serve_main:main",
        ],
    },
)
