"""Atomic writes and the one-line WriteError."""

import errno
import os

import pytest

from s2f_tf import files


def test_write_atomically_replaces_the_whole_file(tmp_path):
  path = str(tmp_path / "eval.json")
  files.write_atomically(path, "old")
  files.write_atomically(path, b"new")
  assert open(path).read() == "new"
  assert os.listdir(tmp_path) == ["eval.json"]  # No temporary left.


def test_failed_write_names_the_path_and_keeps_the_old_file(tmp_path,
                                                            monkeypatch):
  path = str(tmp_path / "config.json")
  files.write_atomically(path, "old")

  def full_disk(*unused_args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(os, "replace", full_disk)
  with pytest.raises(files.WriteError) as e:
    files.write_atomically(path, "new")
  assert str(e.value).startswith(
      f"cannot write {path}: No space left on device (")
  assert "MB free on that disk)" in str(e.value)
  assert open(path).read() == "old"
  assert os.listdir(tmp_path) == ["config.json"]


def test_exclusive_write_refuses_an_existing_file(tmp_path):
  path = str(tmp_path / "train.lock")
  files.write_atomically(path, "first", exclusive=True)
  with pytest.raises(FileExistsError):
    files.write_atomically(path, "second", exclusive=True)
  assert open(path).read() == "first"
  assert os.listdir(tmp_path) == ["train.lock"]


def test_a_tensorflow_write_error_becomes_the_os_words(tmp_path):
  class OpError(Exception):
    message = ("{{function_node __wrapped__SaveV2}} /w/ckpt-20_temp/part-0; "
               "No space left on device [Op:SaveV2]")
  error = files.WriteError(str(tmp_path / "ckpt-20"), OpError(),
                           note="the last good checkpoint is ckpt-10")
  assert str(error).startswith(
      f"cannot write {tmp_path}/ckpt-20: No space left on device (")
  assert str(error).endswith("; the last good checkpoint is ckpt-10")
