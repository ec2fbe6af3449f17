"""The system's Chromium for the browser tests (.ci/install_browser)."""

import shutil

import pytest


def chromium():
  """Its path; skips the test, saying why, where none is installed."""
  for name in ("chromium", "chromium-browser", "google-chrome"):
    if shutil.which(name):
      return shutil.which(name)
  pytest.skip("no Chromium on this machine: .ci/install_browser installs it "
              "with apt-get, which is missing or failed here")
