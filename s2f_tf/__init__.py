"""s2f_tf: few-shot sketch-to-face GANs in TensorFlow 2 / Keras 3."""
