"""The served model: loaded once, uploads in, outputs out, one call at a time.

A signature is served when its task says how a user feeds it: files
(`Task.serving_inputs`) or numbers (`Task.serving_values`: a noise seed,
psi). A model whose export (or run) has cluster centres (`s2f_tf.clusters`)
also serves the signature that takes region features: a request names one
cluster per class ({"clusters": {"hair": 3}}) and the features are built
from the centres.

Uploads reach the model through the same readers as `s2f-sample`'s files
(`Task.load_serving_inputs`: crops, resizing, sketch extraction, class-id
checks), so the editor and the command line give the same face for the same
file. The readers take paths, so each request writes its uploads into a
temporary folder of its own, removed when the request ends; nothing is
written anywhere else. Errors name the upload by its field (`refs[1]`), not
by that folder.

TensorFlow runs one signature call at a time here (`ServedModel.lock`): on
a small CPU a second concurrent call only slows both, and serialising keeps
the answers identical to a lone call's.
"""

import dataclasses
import os
import tempfile
import threading
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from s2f_tf import clusters as clusters_lib
from s2f_tf import export
from s2f_tf import tasks
from s2f_tf.data import decode
from s2f_tf.data import labels as labels_lib
from s2f_tf.data import layout
from s2f_tf.serving import signatures as sig
from s2f_tf.tasks import base

# A field's upload(s): one file's bytes, or a list (reference photos); or a
# number, for an input set from one (a seed, psi: `Task.serving_values`);
# or the clusters chosen per class ({"hair": 3}).
Uploads = Dict[str, Union[bytes, List[bytes], float, Dict[str, int]]]


class RequestError(Exception):
  """A request the model cannot run; `status` is its HTTP status (4xx)."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


@dataclasses.dataclass(frozen=True)
class Limits:
  """What one request may hold.

  Attributes:
    max_refs: the most files in one list field (K reference photos): each
      adds a full encoder pass, so K bounds a request's time.
    max_pixels: the most pixels of one decoded image, checked before the
      decode allocates it (a 64 Mpixel PNG fits in a small file).
  """

  max_refs: int = 8
  max_pixels: int = 4096 * 4096


class ServedModel:
  """A model's signatures a user can feed (files or numbers), on uploads."""

  def __init__(self, task: base.Task, fns: Dict[str, export.ImageFn],
               limits: Limits = Limits(),
               centres: Optional[Dict[str, np.ndarray]] = None):
    self.task = task
    self.fns = fns
    self.limits = limits
    self.centres = centres  # {class name: [k, feat_num]}, or None.
    self.lock = threading.Lock()

  def _takes_features(self, signature: str) -> bool:
    return clusters_lib.FEATURES_INPUT in self.fns[signature].inputs

  def describe(self) -> Dict:
    """What the page needs to build its editor: the task, the image size,
    each signature's inputs (field, kind, what, many; a number's kind
    fields too: a noise size, a scalar's range), the limits, and the label
    classes' names and colours when a label map feeds a signature."""
    signatures, label_nc = {}, None
    for name in self.fns:
      inputs = []
      for source in self.task.serving_inputs(name):
        kind = source.kind
        label_nc = getattr(kind, "classes", label_nc)
        inputs.append({"input": source.input, "field": source.flag,
                       "kind": type(kind).__name__, "what": source.what,
                       "many": kind.many})
      for value in self.task.serving_values(name):
        inputs.append({"input": value.input, "field": value.input,
                       "kind": type(value.kind).__name__, "what": value.what,
                       "many": False, **dataclasses.asdict(value.kind)})
      signatures[name] = {"inputs": inputs}
      if self._takes_features(name):  # Each class's number of clusters.
        signatures[name]["clusters"] = {
            cls: len(centres) for cls, centres in self.centres.items()}
    described = {"task": self.task.config.model.task,
                 "image_size": self.task.config.data.image_size,
                 "max_refs": self.limits.max_refs, "signatures": signatures}
    if label_nc is not None:
      described["classes"] = [
          {"id": i, "name": layout.CLASS_NAMES[i],
           "colour": labels_lib.CLASS_COLOURS[i].tolist()}
          for i in range(label_nc)]
    return described

  def run(self, signature: str, uploads: Uploads) -> Dict[str, np.ndarray]:
    """`signature` on `uploads` ({field: bytes or [bytes]}, or {input:
    number} where the task sets its inputs from numbers): its outputs.

    Raises:
      RequestError: 404 for a signature the page does not serve; 400 for
        fields the signature does not read or lacks, too many files, an
        image of too many pixels, a label id >= label_nc or a number out
        of its range, clusters for a class without them or past its count;
        415 for a file that is not a decodable image. One line each,
        naming the field.
    """
    if signature not in self.fns:
      raise RequestError(404, f"no signature {signature!r} here; this model "
                         f"serves {', '.join(sorted(self.fns))}")
    uploads = dict(uploads)
    features = self._features(
        signature, uploads.pop(clusters_lib.REQUEST_FIELD, None))
    numbers = {value.input: value
               for value in self.task.serving_values(signature)}
    if numbers:
      feeds = _numbers(numbers, uploads)
    else:
      feeds = self._files(signature, uploads)
    if features is not None:  # One row per map of the batch.
      batch = len(next(iter(feeds.values())))
      feeds[clusters_lib.FEATURES_INPUT] = np.repeat(features[None], batch, 0)
    try:
      with self.lock:
        return self.fns[signature].outputs(feeds)
    except tf.errors.InvalidArgumentError as e:  # The graph's own checks.
      raise RequestError(400, " ".join(e.message.split())) from None

  def _features(self, signature: str, chosen) -> Optional[np.ndarray]:
    """The region features [L, feat_num] of the clusters `chosen` ({"hair":
    3}; None: cluster 0 everywhere) when `signature` takes them, else None;
    checked before any upload is read."""
    if not self._takes_features(signature):
      if chosen is None:
        return None
      with_clusters = [name for name in self.fns if self._takes_features(name)]
      raise RequestError(400, f"{clusters_lib.REQUEST_FIELD}: the {signature} "
                         "signature draws no clusters; "
                         + (f"{with_clusters[0]} does" if with_clusters else
                            "this model has none"))
    try:
      return clusters_lib.request_features(
          {} if chosen is None else chosen, self.centres,
          self.task.config.family)
    except ValueError as e:
      raise RequestError(400, str(e)) from None

  def _files(self, signature: str, uploads: Uploads
             ) -> Dict[str, np.ndarray]:
    """The uploads read by the task's readers, as s2f-sample reads files.

    The fields are checked against the task's declaration before anything
    is written: a field names a file in the temporary folder, so an
    undeclared one ("../x") must never reach the disk.
    """
    inputs = self.task.serving_inputs(signature)
    files = {source.flag: None for source in inputs}
    for field, value in uploads.items():
      if not isinstance(value, (bytes, list)):
        raise RequestError(400, f"{field}: expected a base64 image, got "
                           f"{value!r}")
      files[field] = [field] * len(value) if isinstance(value, list) else field
    try:
      sig.check_files(inputs, files, self.task.config.model.task, signature)
    except ValueError as e:
      raise RequestError(400, str(e)) from None
    with tempfile.TemporaryDirectory(prefix="s2f_serve_") as folder:
      for field, value in uploads.items():
        files[field] = self._write(folder, field, value)
      try:
        return self.task.load_serving_inputs(files, signature)
      except decode.BadFile as e:
        raise RequestError(415, _local(str(e), folder)) from None
      except ValueError as e:
        raise RequestError(400, _local(str(e), folder)) from None

  def _write(self, folder: str, field: str,
             value: Union[bytes, Sequence[bytes]]) -> Union[str, List[str]]:
    """Writes a field's file(s) into `folder`; returns the path(s)."""
    if isinstance(value, (bytes, bytearray)):
      return _write_one(folder, field, value, self.limits.max_pixels)
    if len(value) > self.limits.max_refs:
      raise RequestError(400, f"{field}: {len(value)} files; this server "
                         f"takes at most {self.limits.max_refs} "
                         "(s2f-serve --max_refs)")
    return [_write_one(folder, f"{field}[{i}]", data, self.limits.max_pixels)
            for i, data in enumerate(value)]


def _numbers(inputs: Dict[str, sig.InputValue], uploads: Uploads
             ) -> Dict[str, np.ndarray]:
  """{input: number} -> each input made by its kind (a seed's noise)."""
  wanted = ", ".join(f"{name} ({value.what})"
                     for name, value in inputs.items())
  if sorted(uploads) != sorted(inputs):
    raise RequestError(400, f"this signature takes {wanted}; got "
                       f"{', '.join(sorted(uploads)) or 'nothing'}")
  feeds = {}
  for name, value in inputs.items():
    number = uploads[name]
    if isinstance(number, (bytes, list)):
      raise RequestError(400, f"{name}: expected a number ({value.what})")
    try:
      feeds[name] = value.kind.make(number)
    except ValueError as e:
      raise RequestError(400, f"{name}: {e}") from None
  return feeds


def _write_one(folder: str, name: str, data: bytes, max_pixels: int) -> str:
  """One upload as `folder/name`, once its header's size is allowed."""
  side = _header_size(data)
  if side is not None and side[0] * side[1] > max_pixels:
    raise RequestError(400, f"{name}: {side[0]}x{side[1]} pixels; the most "
                       f"this server decodes is {max_pixels} pixels")
  path = os.path.join(folder, name)
  with open(path, "wb") as f:
    f.write(data)
  return path


def _header_size(data: bytes) -> Optional[tuple]:
  """(width, height) from a PNG's header, or None (JPEGs and others are
  bounded by the request size: JPEG's best ratio is about 1:50)."""
  if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
    return (int.from_bytes(data[16:20], "big"),
            int.from_bytes(data[20:24], "big"))
  return None


def _local(message: str, folder: str) -> str:
  """`message` with the request's temporary folder left out of its paths."""
  return message.replace(folder + os.sep, "")


def load(export_dir: str = "", workdir: str = "",
         limits: Limits = Limits()) -> ServedModel:
  """The model of an export (or a run's checkpoint), with every signature
  its task feeds from files; the one taking region features only when the
  export (or run) has cluster centres.

  Raises:
    FileNotFoundError, ValueError: as `export.load_image_fns`; ValueError
      too when no signature of the model reads images (noise in).
  """
  source = dict(export_dir=export_dir, workdir=workdir)
  task = tasks.make_task(export.serving_config(**source))
  _, fns = export.load_image_fns(None, **source)
  centres = clusters_lib.load_for_serving(**source)
  fns = {name: fn for name, fn in fns.items()
         if (task.serving_inputs(name) or task.serving_values(name))
         and (centres or clusters_lib.FEATURES_INPUT not in fn.inputs)}
  if not fns:
    raise ValueError(f"no signature of this model (--task="
                     f"{task.config.model.task}) is fed from images or "
                     "numbers; s2f-serve has nothing to edit")
  return ServedModel(task, fns, limits, centres)
