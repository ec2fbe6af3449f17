"""Face data: the CelebAMask-HQ layout, a synthetic set in it, and episodes.

`layout` names the files, `synth` writes a synthetic few-shot set, `sketch`
turns photos into line drawings, `reader` loads and splits a set into numpy
arrays, `episodes` turns those into a tf.data pipeline. `folder` serves any
folder of images to the unconditional baselines. For unpaired translation,
`domains` reads the U-GAT-IT layout (trainA trainB testA testB, plus hidden
test truths), `anime` draws synth's people as anime and writes the synthetic
photo -> anime set, and `unpaired` batches the two domains.

Submodules are deliberately not imported here: worker threads and the CLI only
need numpy and OpenCV, and importing `episodes` would pull in TensorFlow.
"""
