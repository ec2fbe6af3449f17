"""Times float32 against a low precision on this machine, for `--precision=auto`.

CPU flags do not tell whether bfloat16 trains faster: a Xeon with AMX runs
bfloat16 convolutions about twice as fast as float32, while one with
AVX512_BF16 but no AMX runs them slower than float32 (issue 22: the demo's
D+G step took 595 ms in mixed_bfloat16 against 406 ms in float32). So
`--precision=auto` measures: one 3x3 convolution forward and backward and one
matmul, shaped like the few-shot generator's middle layers, compiled as the
training steps are and timed in interleaved rounds.

It runs as its own process (`python -m s2f_tf.precision_probe --device=cpu`),
started by `s2f_tf.precision`: running ops initialises TensorFlow's runtime,
after which a multi-worker strategy can no longer configure its collectives,
and a probe must not leave threads or a device context behind in the trainer.
It prints one JSON line: {"float32_ms": ..., "low_ms": ..., "low_dtype": ...}.
"""

import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A batch of 8 at 32 x 32 with 64 channels: the demo generator's middle
# resolution, large enough that a call takes milliseconds (timer noise is
# small) and small enough that the whole probe stays under a second.
CONV_INPUT = (8, 32, 32, 64)
CONV_KERNEL = (3, 3, 64, 64)
MATMUL = (1024, 256, 256)  # (rows, inner, columns): a 1x1 conv's matmul.
ROUNDS = 8  # Timed calls per dtype, interleaved so both see the same load.
LOW_DTYPE = {"cpu": "bfloat16", "gpu": "float16"}


def _pass_fn(tf):
  """One compiled forward and backward pass of the probe's two layers."""

  @tf.function
  def one_pass(x, kernel, upstream, a, b):
    with tf.GradientTape() as tape:
      tape.watch([x, kernel])
      y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
    dx, dkernel = tape.gradient(y, [x, kernel], output_gradients=upstream)
    product = tf.matmul(a, b)
    # One scalar per output, fetched by the caller: the sync point that makes
    # an asynchronous device (GPU) finish before the clock stops.
    return (tf.reduce_sum(tf.cast(dx[0, 0, 0], tf.float32))
            + tf.reduce_sum(tf.cast(dkernel[0, 0, 0], tf.float32))
            + tf.reduce_sum(tf.cast(product[0], tf.float32)))

  return one_pass


def measure(device: str) -> dict:
  """Median milliseconds per pass in float32 and in `LOW_DTYPE[device]`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  low = LOW_DTYPE[device]
  rng = tf.random.Generator.from_seed(0)
  rows, inner, columns = MATMUL
  with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
    base = [rng.normal(CONV_INPUT), rng.normal(CONV_KERNEL) * 0.05,
            rng.normal(CONV_INPUT), rng.normal((rows, inner)),
            rng.normal((inner, columns)) * 0.05]
    inputs = {dtype: [tf.cast(t, dtype) for t in base]
              for dtype in ("float32", low)}
    passes = {dtype: _pass_fn(tf) for dtype in inputs}
    for dtype, fn in passes.items():  # Trace and warm up, untimed.
      fn(*inputs[dtype]).numpy()
      fn(*inputs[dtype]).numpy()
    times = {dtype: [] for dtype in inputs}
    for _ in range(ROUNDS):
      for dtype, fn in passes.items():
        start = time.perf_counter()
        fn(*inputs[dtype]).numpy()
        times[dtype].append(1e3 * (time.perf_counter() - start))
  return {"float32_ms": statistics.median(times["float32"]),
          "low_ms": statistics.median(times[low]), "low_dtype": low}


def main(argv) -> int:
  device = "cpu"
  for arg in argv[1:]:
    if arg.startswith("--device="):
      device = arg.split("=", 1)[1]
  if device not in LOW_DTYPE:
    print(f"--device={device!r} must be one of {', '.join(LOW_DTYPE)}",
          file=sys.stderr)
    return 2
  print(json.dumps(measure(device)))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
