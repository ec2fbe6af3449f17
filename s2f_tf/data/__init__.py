"""Face data: the CelebAMask-HQ layout, a synthetic set in it, and episodes.

`layout` names the files, `synth` writes a synthetic few-shot set, `sketch`
turns photos into line drawings, `reader` loads and splits a set into numpy
arrays, `episodes` turns those into a tf.data pipeline. `folder` serves any
folder of images to the unconditional baselines.

Submodules are deliberately not imported here: worker threads and the CLI only
need numpy and OpenCV, and importing `episodes` would pull in TensorFlow.
"""
