"""s2f-serve as a user meets it: the command, its page in a real headless
Chromium (Playwright), and a clean stop on SIGTERM.

Chromium comes from the system's packages (.ci/install_browser); Playwright
drives it by path and downloads no browser. The tests skip, saying so, only
where no Chromium is installed.

The page tests serve the page from a thread of the test process (`_served`):
what they check is the page and the API behind it, and a child process per
test would pay TensorFlow's start-up (seconds of CPU) each time. The command
itself (its start-up bound, its signals, its one-line errors) is run as a
child process by the last two tests.
"""

import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import types

import cv2
import numpy as np
import pytest
import uvicorn

import browsers
import serve_models
from s2f_tf.serve import app as app_lib
from s2f_tf.serve import launch
from s2f_tf.serve import model as model_lib
from s2f_tf.serve import server as server_lib

STARTUP_S = 5.0  # The bound, from "model loaded" to listening.


@pytest.fixture(scope="module")
def exports(served_models):
  return {"sketch2face": served_models("sketch2face")[0],
          "label2face": served_models("label2face")[0],
          "stylegan2": served_models("stylegan2")[0],
          "pix2pixhd": served_models("pix2pixhd_clusters")[0]}


@pytest.fixture(scope="module")
def browser():
  executable = browsers.chromium()
  playwright = pytest.importorskip("playwright.sync_api")
  with playwright.sync_playwright() as driver:
    chromium = driver.chromium.launch(executable_path=executable,
                                      args=["--no-sandbox"])
    yield chromium
    chromium.close()


def _server(export_dir):
  """`s2f-serve --export_dir=...` as a child process, once it listens."""
  return launch.Launched([f"--export_dir={export_dir}"])


@contextlib.contextmanager
def _served(export_dir):
  """The app `s2f-serve --export_dir=...` serves (`model.load`, then
  `app.make_app`, as serve_main builds it), on uvicorn in a thread of this
  process; yields an object with its `url`, stops it on exit."""
  app = app_lib.make_app(model_lib.load(export_dir=export_dir))
  server = uvicorn.Server(uvicorn.Config(
      app, host=server_lib.LOCALHOST, port=0, log_level="warning",
      access_log=False, lifespan="off"))
  thread = threading.Thread(target=server.run, daemon=True)
  thread.start()  # Off the main thread uvicorn leaves the signals alone.
  deadline = time.monotonic() + 60
  while not server.started:
    assert thread.is_alive() and time.monotonic() < deadline, (
        "the in-process server never listened")
    time.sleep(0.02)
  host, port = server.servers[0].sockets[0].getsockname()[:2]
  try:
    yield types.SimpleNamespace(url=f"http://{host}:{port}/")
  finally:
    server.should_exit = True
    thread.join(timeout=60)


def _open(browser, server):
  page = browser.new_page(viewport={"width": 1200, "height": 800})
  page.goto(server.url)
  page.wait_for_selector("body[data-ready]")
  return page


def _after(page, runs):
  """Waits for answer number `runs`; returns the face shown, uint8 RGB."""
  page.wait_for_function(f"Number(document.body.dataset.runs) >= {runs}",
                         timeout=30000)
  assert page.inner_text("#error") == ""
  assert re.search(r"server [\d.]+ ms", page.inner_text("#timing"))
  src = page.get_attribute("#out-image", "src")
  data = np.frombuffer(base64.b64decode(src.partition(",")[2]), np.uint8)
  return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _stroke(page, selector, points):
  page.locator(selector).scroll_into_view_if_needed()
  box = page.locator(selector).bounding_box()
  page.mouse.move(box["x"] + points[0][0] * box["width"],
                  box["y"] + points[0][1] * box["height"])
  page.mouse.down()
  for x, y in points[1:]:
    page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"],
                    steps=4)
  page.mouse.up()


def _differ(a, b):
  return np.abs(a.astype(int) - b).max() > 0


def test_sketch2face_page_draws_and_follows_the_references(
    exports, browser, tiny_data_root, tmp_path):
  with _served(exports["sketch2face"]) as server:
    page = _open(browser, server)
    photo = os.path.join(tiny_data_root, "CelebA-HQ-img", "0.jpg")
    page.set_input_files("#input-refs", photo)
    page.click("#add-refs")
    blank = _after(page, 1)  # Blank paper, one reference.
    _stroke(page, "#sketch-canvas", [(0.2, 0.2), (0.5, 0.6), (0.8, 0.3)])
    drawn = _after(page, 2)
    assert _differ(blank, drawn) and drawn.std() > 0
    page.click("#tool-eraser")
    _stroke(page, "#sketch-canvas", [(0.45, 0.5), (0.55, 0.6)])
    erased = _after(page, 3)
    page.click("#tool-undo")
    assert _differ(erased, _after(page, 4))
    page.click("#example-refs")  # A second reference: K = 2.
    assert _differ(drawn, _after(page, 5))


def test_label2face_page_paints_a_region_and_swaps_a_reference(
    exports, browser, tmp_path):
  with _served(exports["label2face"]) as server:
    page = _open(browser, server)
    page.click("#example-labels")
    page.wait_for_function("document.getElementById('error').textContent")
    assert "--refs" in page.inner_text("#error")  # sean needs references.
    page.click("#example-refs")
    start = _after(page, 1)
    page.click("#class-hair")
    _stroke(page, "#label-canvas", [(0.1, 0.1), (0.9, 0.1), (0.9, 0.3),
                                    (0.1, 0.3)])
    painted = _after(page, 2)
    assert _differ(start, painted) and painted.std() > 0
    # An uploaded reference photo with its own map.
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (32, 32, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "ref.png"), photo)
    cv2.imwrite(str(tmp_path / "ref_map.png"), np.full((32, 32), 13, np.uint8))
    page.set_input_files("#input-refs", str(tmp_path / "ref.png"))
    page.set_input_files("#input-ref_labels", str(tmp_path / "ref_map.png"))
    page.click("#add-refs")
    both = _after(page, 3)
    assert _differ(painted, both)
    # Hair's look from reference 1 alone (reference 2 is all hair).
    page.select_option("#region-class", "13")
    page.select_option("#region-source", "0")
    assert _differ(both, _after(page, 4))
    assert "hair from reference 1" in page.inner_text("body")
    page.select_option("#region-source", "")
    assert not _differ(both, _after(page, 5))


def test_pix2pixhd_page_picks_a_hair_cluster(exports, browser):
  with _served(exports["pix2pixhd"]) as server:
    page = _open(browser, server)
    page.select_option("#signature", "label2face_features")
    assert page.locator("#cluster-hair option").all_inner_texts() == [
        "cluster 0 (most common)", "cluster 1", "cluster 2"]
    assert page.locator("#cluster-skin option").count() == 2
    page.click("#example-labels")  # A face's map, with hair.
    common = _after(page, 1)
    page.select_option("#cluster-hair", "2")
    other = _after(page, 2)
    assert _differ(common, other) and other.std() > 0
    page.select_option("#cluster-hair", "0")
    assert not _differ(common, _after(page, 3))


def test_stylegan2_page_follows_the_seed_and_psi(exports, browser):
  with _served(exports["stylegan2"]) as server:
    page = _open(browser, server)
    first = _after(page, 1)  # Drawn at once from seed 0: nothing to edit.
    page.fill("#input-z", "7")
    page.dispatch_event("#input-z", "change")
    seven = _after(page, 2)
    assert _differ(first, seven) and seven.std() > 0
    page.select_option("#signature", "generate")
    truncated = _after(page, 3)  # Seed 0 again, at the default psi 0.7.
    assert _differ(first, truncated)
    page.eval_on_selector("#input-psi", "(s) => { s.value = 1; "
                          "s.dispatchEvent(new Event('change')); }")
    # psi = 1 is serving_default's untruncated face.
    assert not _differ(first, _after(page, 4))


def test_s2f_serve_listens_within_5_s_and_stops_cleanly_on_sigterm(exports):
  server = _server(exports["sketch2face"])
  assert server.startup_s <= STARTUP_S, server.lines
  assert server.url.startswith("http://127.0.0.1:")
  # 50 MB announced: refused by its length before a byte of it is sent.
  host, port = server.url[len("http://"):].rstrip("/").split(":")
  with socket.create_connection((host, int(port)), timeout=30) as client:
    client.sendall(b"POST /api/run/serving_default HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nContent-Length: "
                   + str(50 * 2**20).encode() + b"\r\n\r\n")
    reply = b""
    while not reply.endswith(b"}"):  # Headers and JSON may come apart.
      chunk = client.recv(4096)
      assert chunk, reply
      reply += chunk
    reply = reply.decode()
  assert reply.startswith("HTTP/1.1 413"), reply
  assert '{"error":"request body over 10 MB' in reply
  code, stderr = server.stop(signal.SIGTERM)
  assert code == 143, stderr
  assert stderr.strip().splitlines()[-1] == (
      "s2f-serve stopped by SIGTERM; rerun the same command")
  assert "Traceback" not in stderr
  server = _server(exports["sketch2face"])
  code, stderr = server.stop(signal.SIGINT)
  assert code == 130, stderr
  assert stderr.strip().splitlines()[-1].startswith("s2f-serve stopped by "
                                                    "Ctrl-C")


def test_a_bad_export_dir_or_port_gives_one_line(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.serve_main",
       f"--export_dir={tmp_path}"], capture_output=True, text=True)
  assert done.returncode == 2, done.stderr
  assert done.stderr.strip().splitlines()[-1] == (
      f"s2f-serve: no SavedModel in {tmp_path}")
  done = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.serve_main", "--port=70000",
       f"--export_dir={tmp_path}"], capture_output=True, text=True)
  assert done.returncode == 1 and "--port" in done.stderr
