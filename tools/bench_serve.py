r"""s2f-serve's latency as the editor sees it: request in, face out, over HTTP.

  python tools/bench_serve.py --flagfile=flags/demo.cfg
  python tools/bench_serve.py --flagfile=flags/label2face_demo.cfg
  python tools/bench_serve.py --export_dir=exports/s2f/1

With a flag file it exports a freshly initialised generator of that preset
(latency does not depend on the weights' values; --keep_export keeps it,
for tools/serve_screenshots.py); with --export_dir it serves that export.
Either way it starts the real command (`s2f-serve --port=0`) and posts the
request the page would post, built from the inputs /api/model declares (a
drawn sketch or a synthetic label map, K synthetic reference photos), each
--repeats times after --warmup. It prints one table row per signature and
K: the median and 90th percentile of the round trip, and the median of the
server's own time (what the page shows). The machine's description and
load come first: on shared cores the figures are only indicative.
"""

import base64
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request

from absl import app
from absl import flags
import cv2
import numpy as np

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
from s2f_tf import export
from s2f_tf import flags as s2f_flags
from s2f_tf import precision as precision_lib
from s2f_tf import tasks
from s2f_tf.serve import launch
# pylint: enable=g-import-not-at-top

s2f_flags.define_config_flags()
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "Serve this export "
                                  "instead of a fresh one of the flags.")
_KEEP = flags.DEFINE_string("keep_export", None, "Write the fresh export "
                            "into this folder (its version 1) and keep it.")
_KS = flags.DEFINE_list("ks", ["1", "3"], "Reference counts K to time "
                        "(models that read references).")
_REPEATS = flags.DEFINE_integer("repeats", 30, "Timed requests per row.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed requests per row first.")


def _get(url):
  with urllib.request.urlopen(url, timeout=60) as response:
    return json.load(response)


def _post(url, fields):
  """(round trip ms, the server's ms) of one request; raises on a 4xx."""
  data = json.dumps(fields).encode()
  request = urllib.request.Request(
      url, data=data, headers={"Content-Type": "application/json"})
  start = time.perf_counter()
  try:
    with urllib.request.urlopen(request, timeout=60) as response:
      body = json.load(response)
  except urllib.error.HTTPError as e:
    raise RuntimeError(f"{url}: {e.code} {e.read().decode()}") from None
  return (time.perf_counter() - start) * 1e3, body["ms"]


def _sketch(size):
  """A face's outline drawn at 4x the model's size, base64 PNG."""
  side = 4 * size
  paper = np.full((side, side), 255, np.uint8)
  centre = (side // 2, side // 2)
  cv2.ellipse(paper, centre, (side // 3, side * 2 // 5), 0, 0, 360, 0, 3)
  for x in (side * 3 // 8, side * 5 // 8):
    cv2.circle(paper, (x, side * 2 // 5), side // 20, 0, 2)
  cv2.line(paper, (side * 2 // 5, side * 2 // 3), (side * 3 // 5,
                                                   side * 2 // 3), 0, 3)
  return base64.b64encode(cv2.imencode(".png", paper)[1].tobytes()).decode()


def _request(url, inputs, size, k):
  """The fields the page would send for `inputs` (/api/model's), with K
  references; the first alternative of each input."""
  examples = [_get(f"{url}api/example?person={int(i > 0)}&shot={i}")
              for i in range(k + 1)]
  chosen = {}
  for source in inputs:
    chosen.setdefault(source["input"], source)
  values = {"Sketch": _sketch(size), "LabelMap": examples[0]["labels"],
            "Photo": examples[0]["photo"],
            "Photos": [e["photo"] for e in examples[1:]],
            "LabelMaps": [e["labels"] for e in examples[1:]]}
  return {source["field"]: values[source["kind"]]
          for source in chosen.values()}


def _row(url, signature, fields):
  endpoint = f"{url}api/run/{signature}"
  for _ in range(_WARMUP.value):
    _post(endpoint, fields)
  trips, server = zip(*(_post(endpoint, fields)
                        for _ in range(_REPEATS.value)))
  return (statistics.median(trips), np.percentile(trips, 90),
          statistics.median(server))


def _bench(export_dir, preset):
  with launch.Launched([f"--export_dir={export_dir}"]) as server:
    described = _get(f"{server.url}api/model")
    size = described["image_size"]
    print(f"{precision_lib.cpu_description()}, {len(os.sched_getaffinity(0))}"
          f" cores, load average {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{preset}: --task={described['task']}, {size} px; s2f-serve "
          f"listened {server.startup_s:.2f} s after the model loaded\n")
    print("| signature | K | round trip median (ms) | p90 (ms) | "
          "server median (ms) |")
    print("|---|---:|---:|---:|---:|")
    inputs = described["signatures"]["serving_default"]["inputs"]
    takes_refs = any(source["kind"] == "Photos" for source in inputs)
    for k in map(int, _KS.value if takes_refs else ["0"]):
      fields = _request(server.url, inputs, size, k)
      median, p90, server_ms = _row(server.url, "serving_default", fields)
      print(f"| serving_default | {k} | {median:.1f} | {p90:.1f} | "
            f"{server_ms:.1f} |", flush=True)


def main(argv):
  del argv
  if _EXPORT_DIR.value:
    _bench(_EXPORT_DIR.value, _EXPORT_DIR.value)
    return
  config = s2f_flags.config_from_flags()
  task = tasks.make_task(config)
  preset = " ".join(a for a in sys.argv[1:] if a.startswith("--flagfile"))
  with precision_lib.precision_policy("float32"):  # What exports serve.
    generator = task.build_generator()
  with tempfile.TemporaryDirectory() as scratch:
    path = export.export(task, generator, _KEEP.value or scratch)
    _bench(path, f"{preset} (freshly initialised)")


if __name__ == "__main__":
  app.run(main)
