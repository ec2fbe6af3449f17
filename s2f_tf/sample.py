"""`s2f-sample`: a model's signature on a user's files, written as PNGs.

The model's task says which files feed which signature and how each file
becomes a tensor (`Task.serving_inputs`, `Task.load_serving_inputs`), so
this module knows no family: it builds the task from the model's
config.json, checks and reads the files before the (slower) model load,
runs the signature from an export or a workdir (`export.load_image_fn`) and
writes its "image" output. A signature with more outputs (an attention map
beside the image, say) has each other uint8 map written to an aux folder as
`<output name>.png`; outputs that are not images (float codes) are named
and skipped.
"""

import os
from typing import List, Optional

import numpy as np

from s2f_tf import export
from s2f_tf import tasks
from s2f_tf.data import decode
from s2f_tf.serving import signatures as sig


def sample(files: sig.Files, out: str, export_dir: str = "",
           workdir: str = "", signature: str = "serving_default",
           out_aux_dir: str = "") -> List[str]:
  """Runs `signature` on `files`; writes the image to `out`.

  Args:
    files: every file flag the caller has (--sketch, --refs, ...), None
      where not given; the task checks them against what it reads.
    out: the PNG for the signature's "image" output (first of the batch).
    export_dir: a SavedModel version folder; or else
    workdir: a run, served from its latest checkpoint through the same
      signature.
    signature: which of the model's signatures to run.
    out_aux_dir: where the other uint8 image outputs go, one PNG each named
      by output; "" writes only `out`.

  Returns:
    The paths written, `out` first.

  Raises:
    ValueError: files the signature does not read or not the ones it needs,
      a signature the model lacks (listing its signatures) or that no file
      feeds; one line each.
    decode.BadFile: a missing or unreadable file.
  """
  source = dict(export_dir=export_dir, workdir=workdir)
  task = tasks.make_task(export.serving_config(**source))
  if not task.serving_inputs(signature):
    # The load names a signature the model lacks, or the noise it takes.
    export.load_image_fn(signature=signature, **source)
  feeds = task.load_serving_inputs(files, signature)  # Before the load.
  _, generate = export.load_image_fn(signature=signature, **source)
  outputs = generate.outputs(feeds)
  decode.write_png(out, generate.image(outputs)[0])
  written = [out]
  aux = {name: value for name, value in outputs.items() if name != "image"}
  if out_aux_dir and aux:
    os.makedirs(out_aux_dir, exist_ok=True)
    for name, value in aux.items():
      image = picture(value)
      if image is None:
        print(f"skipped output {name} ({value.dtype.name} "
              f"{list(value.shape)}): not a uint8 image")
        continue
      written.append(os.path.join(out_aux_dir, f"{name}.png"))
      decode.write_png(written[-1], image)
  return written


def picture(value: np.ndarray) -> Optional[np.ndarray]:
  """The first of a uint8 batch [B, H, W] or [B, H, W, 1 or 3] as a PNG's
  [H, W] or [H, W, 3]; None for anything else."""
  if value.dtype != np.uint8 or value.ndim not in (3, 4):
    return None
  if value.ndim == 3:
    return value[0]
  channels = value.shape[-1]
  if channels == 1:
    return value[0, ..., 0]
  return value[0] if channels == 3 else None
