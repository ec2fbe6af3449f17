"""The editor's HTTP side: the page and a small JSON API over a ServedModel.

  GET  /                      the editor (page.html)
  GET  /api/model             the model's task, size, signatures and their
                              inputs, label classes, limits
  GET  /api/example?person=P&shot=S
                              a synthetic photo of person P and its label map
                              (the demo data's generator), to start from
  POST /api/run/<signature>   {"<field>": base64 image, "<list field>":
                              [base64, ...]} or, for inputs set from
                              numbers, {"z": seed, "psi": 0.7}; with
                              {"clusters": {"hair": 3}} where the model
                              has cluster centres
                              -> {"image": base64 PNG,
                              "outputs": {name: base64 PNG}, "ms": ...}

Images travel as base64 (a data: URL's prefix is dropped), what a canvas's
`toDataURL` gives, so the API needs no multipart parser. Every bad request
is a 4xx with `{"error": "one line"}`, and the server keeps serving: 413
for a body over the limit (by its Content-Length, and by counting what
arrives when it has none or lies), 400 for malformed JSON or base64 and the
model's own input checks, 415 for a file that is not an image, 404 for a
signature the model lacks.
"""

import base64
import binascii
import json
import pathlib
import time
from typing import Dict

import numpy as np
from starlette import applications
from starlette import concurrency
from starlette import exceptions
from starlette import requests
from starlette import responses
from starlette import routing

from s2f_tf import export
from s2f_tf import sample
from s2f_tf.data import decode
from s2f_tf.data import synth
from s2f_tf.serve import model as model_lib

MAX_BYTES = 10 * 1024 * 1024  # One request's body: ~K photos plus a map.
PAGE = pathlib.Path(__file__).with_name("page.html")
_EXAMPLE_SEED = 0  # The synthetic set /api/example draws from (the demo's).


def _error(status: int, message: str) -> responses.JSONResponse:
  return responses.JSONResponse({"error": " ".join(message.split())},
                                status_code=status)


async def _body(request: requests.Request, max_bytes: int) -> bytes:
  """The request's body, refused (413) past `max_bytes` before it is all
  read: by its declared length, else by counting."""
  declared = request.headers.get("content-length", "")
  too_big = model_lib.RequestError(
      413, f"request body over {max_bytes // (1024 * 1024)} MB; send "
      "smaller images (the model reads them at its own size)")
  if declared.isdigit() and int(declared) > max_bytes:
    raise too_big
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > max_bytes:
      raise too_big
    chunks.append(chunk)
  return b"".join(chunks)


def _decode_fields(body: bytes) -> model_lib.Uploads:
  """JSON {field: base64 or [base64] or a number or an object} -> {field:
  bytes or [bytes] or the number or the object (clusters: the model checks
  it)}."""
  try:
    fields = json.loads(body)
  except (ValueError, UnicodeDecodeError):
    raise model_lib.RequestError(
        400, "the body must be JSON: {\"field\": \"<base64 image>\", ...}"
    ) from None
  if not isinstance(fields, dict):
    raise model_lib.RequestError(400, "the body must be a JSON object of "
                                 "fields")
  uploads = {}
  for field, value in fields.items():
    if (isinstance(value, (int, float, dict))
        and not isinstance(value, bool)):
      uploads[field] = value  # A seed, psi or clusters: the model checks it.
      continue
    many = isinstance(value, list)
    items = value if many else [value]
    decoded = [_base64(f"{field}[{i}]" if many else field, item)
               for i, item in enumerate(items)]
    uploads[field] = decoded if many else decoded[0]
  return uploads


def _base64(name: str, value) -> bytes:
  if not isinstance(value, str):
    raise model_lib.RequestError(400, f"{name}: expected a base64 image "
                                 "string")
  try:
    return base64.b64decode(value.partition(",")[2] if value.startswith(
        "data:") else value, validate=True)
  except binascii.Error:
    raise model_lib.RequestError(400, f"{name}: not valid base64") from None


def png_base64(image: np.ndarray) -> str:
  """uint8 [H, W] gray or [H, W, 3] RGB -> a PNG as base64."""
  return base64.b64encode(decode.encode_png(image)).decode("ascii")


def _pictures(outputs: Dict[str, np.ndarray]) -> Dict[str, str]:
  """The image and every other uint8 map output (the first of its batch,
  as `s2f-sample` writes them) as base64 PNGs."""
  pictures = {"image": png_base64(export.ImageFn.image(outputs)[0])}
  for name, value in outputs.items():
    picture = sample.picture(value)
    if name != "image" and picture is not None:
      pictures[name] = png_base64(picture)
  return pictures


def make_app(served: model_lib.ServedModel,
             max_bytes: int = MAX_BYTES) -> applications.Starlette:
  """The Starlette app over `served` (tests call it in-process)."""
  page = PAGE.read_text(encoding="utf-8")
  described = served.describe()

  async def index(request):
    del request
    return responses.HTMLResponse(page)

  async def describe(request):
    del request
    return responses.JSONResponse(described)

  async def example(request):
    numbers = []
    for name in ("person", "shot"):
      value = request.query_params.get(name, "0")
      if not value.isdigit() or int(value) > 10**6:
        return _error(400, f"{name}={value!r}: expected an integer "
                      "0..1000000")
      numbers.append(int(value))
    size = served.task.config.data.image_size
    photo, labels = await concurrency.run_in_threadpool(
        synth.render_face, _EXAMPLE_SEED, numbers[0] + 1, numbers[1], size)
    return responses.JSONResponse({"photo": png_base64(photo),
                                   "labels": png_base64(labels)})

  async def run(request):
    start = time.perf_counter()
    signature = request.path_params["signature"]
    try:
      uploads = _decode_fields(await _body(request, max_bytes))
      outputs = await concurrency.run_in_threadpool(served.run, signature,
                                                    uploads)
    except model_lib.RequestError as e:
      return _error(e.status, str(e))
    pictures = _pictures(outputs)
    return responses.JSONResponse({
        "image": pictures.pop("image"), "outputs": pictures,
        "ms": round((time.perf_counter() - start) * 1000.0, 1)})

  async def refused(request, exc):
    return _error(exc.status_code, f"{request.method} {request.url.path}: "
                  f"{exc.detail}; the API is GET /api/model and POST "
                  "/api/run/<signature>")

  async def failed(request, exc):
    del request
    return _error(500, f"{type(exc).__name__}: {exc}")

  return applications.Starlette(
      routes=[routing.Route("/", index),
              routing.Route("/api/model", describe),
              routing.Route("/api/example", example),
              routing.Route("/api/run/{signature}", run, methods=["POST"])],
      exception_handlers={exceptions.HTTPException: refused,
                          Exception: failed})
