"""TensorFlow Lite models of one image -> image function, checked on images.

Users of the official U-GAT-IT code ask for a model a phone can run. The
SavedModel's signatures take any batch and size (checked in-graph), which
TFLite's converter cannot lower; TFLite wants one static shape and constant
weights. So `convert` freezes a float function of one [1, S, S, 3] image into
constants (`convert_variables_to_constants_v2`) and converts that:

  float16  weights stored as float16 (half the size), run in float32;
  int8     weights and activations as 8-bit integers, their ranges
           calibrated on a folder of images (post-training quantization,
           https://www.tensorflow.org/lite/performance/post_training_quantization).

`compare` runs the TFLite model on held-out images beside a reference's
outputs (the SavedModel's) and reports the largest absolute difference and
the PSNR between them ([-1, 1] images, PSNR on [0, 1]); `latency_ms` times
the interpreter.
"""

from typing import Callable, Dict, Iterable

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-direct-tensorflow-import

from s2f_tf import timing
from s2f_tf.serving import quantization as quantization_lib

CALIBRATION_IMAGES = 100  # Representative images for int8 ranges, at most.


def _frozen(function: Callable, image_size: int):
  """`function` on one float32 [1, S, S, 3] image, weights as constants."""
  traced = tf.function(function, autograph=False, input_signature=[
      tf.TensorSpec([1, image_size, image_size, 3], tf.float32,
                    name="image")])
  return convert_to_constants.convert_variables_to_constants_v2(
      traced.get_concrete_function())


def convert(function: Callable, image_size: int, quantization: str,
            calibration: Iterable[np.ndarray] = ()) -> bytes:
  """The TFLite flatbuffer of `function` (image [-1, 1] -> image [-1, 1]).

  Args:
    function: float32 [1, S, S, 3] -> float32 [1, S, S, 3].
    image_size: S.
    quantization: "float16" or "int8".
    calibration: for int8, float32 [S, S, 3] images on [-1, 1].

  Raises:
    ValueError: an unknown quantization, or int8 without images.
  """
  images = [np.asarray(i, np.float32)[None] for i in calibration]
  quantization_lib.check_request([quantization], bool(images))
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [_frozen(function, image_size)])
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if quantization == "float16":
    converter.target_spec.supported_types = [tf.float16]
  else:
    converter.representative_dataset = lambda: ([i] for i in images)
  return converter.convert()


def _interpreter(model: bytes):
  interpreter = tf.lite.Interpreter(model_content=model)
  interpreter.allocate_tensors()
  return (interpreter, interpreter.get_input_details()[0]["index"],
          interpreter.get_output_details()[0]["index"])


def run(model: bytes, images: np.ndarray) -> np.ndarray:
  """The TFLite model on float32 [N, S, S, 3] images, one at a time."""
  interpreter, source, result = _interpreter(model)
  outputs = []
  for image in images:
    interpreter.set_tensor(source, image[None].astype(np.float32))
    interpreter.invoke()
    outputs.append(interpreter.get_tensor(result)[0].copy())
  return np.stack(outputs)


def compare(model: bytes, images: np.ndarray, expected: np.ndarray
            ) -> Dict[str, float]:
  """{"max_abs", "psnr", "count"}: the TFLite model on `images` (float32
  [N, S, S, 3] on [-1, 1]) against `expected` (the reference's outputs on
  them, [-1, 1]); PSNR on [0, 1], over all images."""
  lite = run(model, images).astype(np.float64)
  reference = np.asarray(expected, np.float64)
  mse = np.mean(((lite - reference) / 2.0) ** 2)
  psnr = float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))
  return {"max_abs": float(np.abs(lite - reference).max()), "psnr": psnr,
          "count": len(images)}


def latency_ms(model: bytes, image_size: int, repeats: int = 10) -> float:
  """Median ms of one interpreter call on one image (after a warm-up)."""
  interpreter, source, _ = _interpreter(model)
  interpreter.set_tensor(source, np.zeros([1, image_size, image_size, 3],
                                          np.float32))
  return timing.median_ms(interpreter.invoke, repeats)
