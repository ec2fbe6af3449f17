"""Serving signatures of each model family, over one shared base.

  signatures     the `ExportModule` base, input specs and in-graph shape checks
  few_shot       sketch + reference photos -> face
  label2face     label map (+ reference photos and their maps) -> face
  unconditional  noise -> image
  stylegan2      noise -> image, plus truncation psi and z -> w

`s2f_tf.export` saves a task's module, verifies the reloaded SavedModel
against the Keras model with the module's own examples, and publishes it.
"""
