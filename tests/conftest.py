"""Shared fixtures: one tiny synthetic face set per test session."""

import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One thread per op in every test process and every trainer a test starts
# (they inherit the environment). The tests' models are tiny, so a thread
# pool's hand-offs cost more than they save, and `make test` runs one more
# pytest-xdist worker than there are cores to fill the cores while a worker
# is tracing (single-threaded Python). Measured on 2 cores (docs/speed.md,
# "The test suite"). Set the variables yourself to override.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
# --precision=auto caches its choice in the user's cache folder: tests (and
# the trainers they start) use a folder of their own, never the user's.
_CACHE = tempfile.mkdtemp(prefix="s2f_tf_test_cache_")
os.environ["XDG_CACHE_HOME"] = _CACHE

import pytest  # pylint: disable=g-import-not-at-top

from s2f_tf import config as config_lib  # pylint: disable=g-import-not-at-top


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "slow: end-to-end runs (trainers in subprocesses, mirrored "
      "comparisons); `make test` runs them first, `make test-fast` skips "
      "them")


def pytest_collection_modifyitems(items):
  """Files with slow tests first, each file's tests kept together.

  pytest-xdist hands out tests in collection order; started last, a 50 s
  test keeps one worker busy while the others have nothing left, so the
  suite's wall time is its total work over the workers plus that tail.
  Started first, the slow ones overlap and the fast ones fill the end
  (longest-first scheduling). A file's tests stay together so that its
  module fixtures (a trained run, an export) are built on as few workers
  as possible: each worker that runs one of the file's tests builds them.
  `make test` adds --dist=worksteal, so a worker handed several slow
  files gives half of its queue to one that has run out.
  """
  slow_files = {item.path for item in items
                if item.get_closest_marker("slow") is not None}
  items.sort(key=lambda item: item.path not in slow_files)


def pytest_unconfigure(config):
  del config  # Unused.
  shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
  """12 people x 5 photos at 32 px, written once in the CelebAMask-HQ layout."""
  from s2f_tf.data import synth  # pylint: disable=g-import-not-at-top
  root = str(tmp_path_factory.mktemp("faces") / "synth")
  synth.write_synthetic_faces(root, identities=12, per_identity=5, size=32,
                              seed=0)
  return root


@pytest.fixture(scope="session")
def served_models(tiny_data_root, tmp_path_factory):
  """served_models(name) -> (export version folder, workdir) of the tiny
  s2f-serve model `name` (a function of tests/serve_models.py), built once
  for all pytest-xdist workers of the session (serve_models.built_once)."""
  import serve_models  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    base = base.parent  # Shared by the workers' own basetemps.
  shared = str(base / "served_models")

  def get(name):
    build = getattr(serve_models, name)
    return serve_models.built_once(
        shared, name, lambda root: build(root, tiny_data_root))
  return get


@pytest.fixture
def tiny_config(tiny_data_root):
  """tiny_config(**train_overrides) -> Config on the session's face set."""
  def make(**train_overrides):
    return config_lib.tiny_config(root=tiny_data_root, **train_overrides)
  return make


@pytest.fixture(autouse=True)
def _forget_tasks_registered_by_the_test():
  """A task a test registers is gone after it: left registered, its section
  would own flags in every later test of the process (pytest-xdist runs
  files in any order)."""
  from s2f_tf import tasks  # pylint: disable=g-import-not-at-top
  before = set(tasks.names())
  yield
  for name in set(tasks.names()) - before:
    tasks.unregister(name)
