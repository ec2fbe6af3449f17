r"""Screenshots of s2f-serve's two editors, for the README.

  python tools/bench_serve.py --flagfile=flags/demo.cfg --keep_export=/tmp/s2f
  python tools/bench_serve.py --flagfile=flags/label2face_demo.cfg \
      --keep_export=/tmp/l2f
  python tools/serve_screenshots.py --sketch2face=/tmp/s2f/1 \
      --label2face=/tmp/l2f/1 --out_dir=docs

Any exports do (trained ones show faces; fresh ones show what an untrained
generator draws). For each, it starts `s2f-serve`, and in headless Chromium
(the system's, driven by Playwright) makes the edits a user would: a
sketch2face export gets a drawn face and two example references; a
label-map export starts from the example map, gets one example reference
and a painted hair region. Writes serve_sketch2face.png and
serve_label2face.png.
"""

import os
import shutil

from absl import app
from absl import flags
from playwright import sync_api

from s2f_tf.serve import launch

_S2F = flags.DEFINE_string("sketch2face", None, "A sketch2face export.")
_L2F = flags.DEFINE_string("label2face", None, "A label-map export.")
_OUT = flags.DEFINE_string("out_dir", "docs", "Where the PNGs go.")

# Strokes in canvas fractions: a face outline, eyes, nose, mouth.
_FACE = [[(0.5 + 0.3 * x, 0.5 + 0.38 * y) for x, y in (
    (0, -1), (0.7, -0.7), (1, 0), (0.7, 0.7), (0, 1), (-0.7, 0.7), (-1, 0),
    (-0.7, -0.7), (0, -1))],
         [(0.38, 0.42), (0.45, 0.42)], [(0.55, 0.42), (0.62, 0.42)],
         [(0.5, 0.45), (0.48, 0.58), (0.52, 0.58)],
         [(0.42, 0.7), (0.5, 0.73), (0.58, 0.7)]]
_HAIR = [(0.25, 0.12), (0.75, 0.12), (0.8, 0.25), (0.2, 0.25)]


def _stroke(page, selector, points):
  page.locator(selector).scroll_into_view_if_needed()
  box = page.locator(selector).bounding_box()
  at = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])
  page.mouse.move(*at(*points[0]))
  page.mouse.down()
  for point in points[1:]:
    page.mouse.move(*at(*point), steps=6)
  page.mouse.up()


def _click(page, selector, runs):
  """Clicks, then waits for the page's answer number `runs`."""
  page.click(selector)
  page.wait_for_function(f"Number(document.body.dataset.runs) >= {runs}",
                         timeout=30000)


def _settle(page):
  """Waits until no request is pending and the last one has been shown."""
  page.wait_for_timeout(500)
  page.wait_for_load_state("networkidle")


def _sketch2face(page):
  _click(page, "#example-refs", 1)
  _click(page, "#example-refs", 2)
  for stroke in _FACE:
    _stroke(page, "#sketch-canvas", stroke)


def _label2face(page):
  _click(page, "#example-refs", 1)  # On the empty (background) map.
  _click(page, "#example-labels", 2)
  page.click("#class-hair")
  _stroke(page, "#label-canvas", _HAIR)


def main(argv):
  del argv
  jobs = [(path, name, edit) for path, name, edit in (
      (_S2F.value, "sketch2face", _sketch2face),
      (_L2F.value, "label2face", _label2face)) if path]
  with sync_api.sync_playwright() as driver:
    browser = driver.chromium.launch(executable_path=shutil.which("chromium"),
                                     args=["--no-sandbox"])
    for path, name, edit in jobs:
      with launch.Launched([f"--export_dir={path}"]) as server:
        page = browser.new_page(viewport={"width": 1100, "height": 840})
        page.goto(server.url)
        page.wait_for_selector("body[data-ready]")
        edit(page)
        _settle(page)
        out = os.path.join(_OUT.value, f"serve_{name}.png")
        page.screenshot(path=out, full_page=True)
        print(f"wrote {out}")
    browser.close()


if __name__ == "__main__":
  app.run(main)
