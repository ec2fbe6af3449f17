"""pool_3 features of the 2015-12-05 Inception graph, as FID and KID use them.

FID's standard network is the frozen GraphDef `classify_image_graph_def.pb`
from inception-2015-12-05.tgz (Inception v3: Szegedy et al. 2015,
arXiv:1512.00567). TTUR's fid.py, the reference FID code (Heusel et al. 2017,
arXiv:1706.08500), loads that file; TF-GAN and pytorch-fid use its weights.
Published FID numbers are only comparable if the same weights see the same
pixels, so we feed it exactly as TTUR does: float images with values in
[0, 255], any size, into the tensor `ExpandDims:0`. The graph's own ops then
resize to 299 x 299 (its `ResizeBilinear`, a 2015 op, so TF1's legacy
sampling without half-pixel centres) and scale to (x - 128) / 128. We read
`pool_3:0` [B, 1, 1, 2048] and return [B, 2048]. docs/metrics.md says how
pytorch-fid and clean-fid differ.

Nothing here downloads anything: the user passes the file they downloaded.
`write_stand_in` writes a tiny graph with the same tensor names, so tests
and benchmarks run the same loading and batching path without the weights.
"""

import os
import tarfile

from google.protobuf import message
import numpy as np
import tensorflow as tf

GRAPH_FILE = "classify_image_graph_def.pb"
STANDARD_FILE = (
    f"the standard file is {GRAPH_FILE} (or the .tgz holding it) from "
    "http://download.tensorflow.org/models/image/imagenet/"
    "inception-2015-12-05.tgz; download it once and pass --inception=PATH")
INPUT, OUTPUT = "ExpandDims:0", "pool_3:0"
FEATURES = 2048


class InceptionError(ValueError):
  """The Inception file is missing or wrong, or its features are not finite."""


def _read_bytes(path: str) -> bytes:
  """The GraphDef's bytes from the .pb itself or from a .tgz that holds it."""
  if not path.endswith((".tgz", ".tar.gz", ".tar")):
    with open(path, "rb") as f:
      return f.read()
  with tarfile.open(path, "r:*") as tar:
    members = [m for m in tar.getmembers() if m.name.endswith(GRAPH_FILE)]
    if not members:
      raise InceptionError(f"--inception={path} holds no {GRAPH_FILE}; "
                           f"{STANDARD_FILE}")
    return tar.extractfile(members[0]).read()


def read_graph_def(path: str) -> tf.compat.v1.GraphDef:
  """The frozen Inception GraphDef at `path` (.pb or .tgz), checked.

  Raises:
    InceptionError: one line naming what is wrong and where the standard
      file comes from.
  """
  if not path or not os.path.isfile(path):
    raise InceptionError(f"--inception={path}: no such file; {STANDARD_FILE}")
  try:
    data = _read_bytes(path)
    graph_def = tf.compat.v1.GraphDef.FromString(data)
  except (message.DecodeError, tarfile.TarError, OSError, EOFError) as e:
    raise InceptionError(f"--inception={path} is not a readable GraphDef "
                         f"({type(e).__name__}); {STANDARD_FILE}") from None
  if not data:  # Parses as an empty GraphDef: say what is really wrong.
    raise InceptionError(f"--inception={path} is empty (0 bytes: a copy or "
                         f"download that failed?); {STANDARD_FILE}")
  names = {node.name for node in graph_def.node}
  missing = [t for t in (INPUT, OUTPUT) if t.split(":")[0] not in names]
  if missing:
    raise InceptionError(f"--inception={path} has no tensor "
                         f"{' or '.join(missing)}, so it is not the FID "
                         f"Inception graph; {STANDARD_FILE}")
  return graph_def


def _features_function(graph_def, path):
  """A concrete function: float32 [B, H, W, 3] in [0, 255] -> [B, 2048]."""
  def imported(images):
    pool3, = tf.compat.v1.import_graph_def(
        graph_def, input_map={INPUT: images}, return_elements=[OUTPUT],
        name="inception")
    if pool3.shape.rank != 4 or pool3.shape[-1] is None:
      raise InceptionError(f"--inception={path}: {OUTPUT} has shape "
                           f"{pool3.shape}, not [B, 1, 1, {FEATURES}]; "
                           f"{STANDARD_FILE}")
    return tf.reshape(pool3, [-1, pool3.shape[-1]])

  spec = tf.TensorSpec([None, None, None, 3], tf.float32)
  try:
    wrapped = tf.compat.v1.wrap_function(imported, [spec])
  except (ValueError, TypeError, tf.errors.OpError) as e:
    if isinstance(e, InceptionError):
      raise
    first_line = str(e).strip().splitlines()[0]
    raise InceptionError(f"--inception={path} does not import "
                         f"({first_line}); {STANDARD_FILE}") from None
  # The real graph also holds a JPEG-decoder placeholder and a batch-1
  # softmax head. A function runs only the ops its output needs, so neither
  # gets in the way of batches (the stand-in has both; tests run batches).
  return wrapped


class Inception:
  """The FID Inception network, run in batches of `batch_size`.

  Calling it on [N, H, W, 3] images (uint8, or float in [0, 255]) returns
  float32 features [N, 2048] (the width of the graph's pool_3: narrower
  stand-ins keep tests fast); only `batch_size` images are resized to
  299 px at once, so memory does not grow with N.
  """

  def __init__(self, path: str, batch_size: int = 50):
    self.path = path
    self.batch_size = batch_size
    self._features = _features_function(read_graph_def(path), path)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    chunks = [
        self._features(tf.cast(images[i:i + self.batch_size],
                               tf.float32)).numpy()
        for i in range(0, len(images), self.batch_size)
    ]
    features = np.concatenate(chunks)
    if not np.isfinite(features).all():
      raise InceptionError(
          f"Inception features of {np.sum(~np.isfinite(features).all(1))} "
          f"of {len(features)} images are NaN or Inf: the images must be "
          "finite values in [0, 255] (generator output went non-finite?)")
    return features


def write_stand_in(path: str, features: int = FEATURES) -> str:
  """Writes a tiny graph with the real graph's tensor names to `path`.

  Like the real file it starts from a JPEG-decoder placeholder, resizes
  `ExpandDims:0` to 299 px with the legacy `ResizeBilinear` op and ends
  `pool_3` [1, 1, 1, 2048] in a batch-1 reshape and softmax. Its "features"
  are a fixed random projection of 8 x 8 average-pooled pixels: cheap, and
  different images give different features. For tests and benchmarks only;
  fewer `features` make FID's 2048 x 2048 eigendecompositions cheap too.
  """
  weights = np.random.RandomState(0).randn(192, features).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    contents = tf.compat.v1.placeholder(tf.string, [], "DecodeJpeg/contents")
    decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
    expanded = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0,
                              name="ExpandDims")
    resized = tf.raw_ops.ResizeBilinear(
        images=expanded, size=[299, 299], align_corners=False,
        half_pixel_centers=False, name="ResizeBilinear")
    scaled = tf.multiply(resized - 128.0, 1.0 / 128.0, name="Mul")
    pooled = tf.nn.avg_pool2d(scaled, 37, 37, "VALID")  # [B, 8, 8, 3]
    flat = tf.reshape(pooled, [-1, 192])
    pool3 = tf.reshape(tf.tanh(flat @ (weights / 8.0)), [-1, 1, 1, features],
                       name="pool_3")
    logits = tf.reshape(pool3, [1, features], name="pool_3/_reshape")
    tf.nn.softmax(logits, name="softmax")
  with open(path, "wb") as f:
    f.write(graph.as_graph_def().SerializeToString())
  return path
