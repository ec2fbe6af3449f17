"""The report in a real headless Chromium: text, images, a screenshot.

Chromium comes from the system's packages (.ci/install_browser). The test
skips, saying so, only where no browser is installed.
"""

import os
import re
import subprocess

import pytest

import browsers
import fake_runs
from s2f_tf.report import site

# Appended to a copy of each page: after load, every image reports its
# decoded width, so a broken link (naturalWidth 0) shows in the dumped DOM.
_PROBE = """<script>
window.addEventListener("load", function () {
  var bad = Array.from(document.images).filter(function (img) {
    return !(img.complete && img.naturalWidth > 0);
  }).map(function (img) { return img.getAttribute("src"); });
  document.body.setAttribute("data-images", document.images.length);
  document.body.setAttribute("data-broken", JSON.stringify(bad));
});
</script>"""


def _browse(page, tmp_path, *extra):
  """Chromium's flags from the issue; returns its stdout (the DOM)."""
  command = [browsers.chromium(), "--headless", "--no-sandbox",
             "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=5000", "--window-size=1400,900", *extra,
             f"file://{page}"]
  result = subprocess.run(command, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout


def _probe_copy(page):
  """The page with _PROBE appended, beside it so relative links still work."""
  probe = page.replace(".html", ".probe.html")
  with open(page, encoding="utf-8") as f:
    content = f.read()
  with open(probe, "w", encoding="utf-8") as f:
    f.write(content.replace("</body>", _PROBE + "</body>"))
  return probe


def _images(dom):
  match = re.search(r'data-images="(\d+)" data-broken="([^"]*)"', dom)
  assert match, "the probe script did not run"
  return int(match.group(1)), match.group(2).replace("&quot;", '"')


def test_report_opens_in_chromium_with_no_broken_image(tmp_path):
  fake_runs.write_kinds(str(tmp_path / "runs"))
  out = tmp_path / "site"
  site.build_report(str(tmp_path / "runs"), str(out), ["svg"], workers=1)
  dom = _browse(_probe_copy(str(out / "index.html")), tmp_path, "--dump-dom")
  count, broken = _images(dom)
  assert (count, broken) == (3, "[]")  # Three runs have a grid.
  for text in ("few_shot", "dcgan_wgan", "label_map", "broken", "running",
               "config.json is unreadable", "train.gan_loss", "notes"):
    assert text in dom, text
  run_page = str(out / "runs" / "few_shot" / "index.html")
  dom = _browse(_probe_copy(run_page), tmp_path, "--dump-dom")
  # 3 loss figures (SVG), the GIF and 4 grids, all decoded.
  assert _images(dom) == (8, "[]")
  assert "Evaluation against the baselines" in dom
  shot = tmp_path / "index.png"
  _browse(str(out / "index.html"), tmp_path, f"--screenshot={shot}")
  with open(shot, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.path.getsize(shot) > 10_000  # Not a blank page.
