"""One trainer per workdir."""

import json
import os
import socket
import subprocess
import sys

import pytest

from s2f_tf import workdir_lock


def _write_lock(workdir, pid, host):
  with open(workdir_lock.lock_path(str(workdir)), "w") as f:
    json.dump({"pid": pid, "host": host, "started": "then"}, f)


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
  with workdir_lock.hold(str(tmp_path)):
    with pytest.raises(workdir_lock.LockedError) as e:
      with workdir_lock.hold(str(tmp_path)):
        pass
  message = str(e.value)
  assert f"pid {os.getpid()} on {socket.gethostname()}" in message
  assert not (tmp_path / workdir_lock.LOCK_NAME).exists()  # Released.


def test_a_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
  gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  _write_lock(tmp_path, int(gone.stdout), socket.gethostname())
  with workdir_lock.hold(str(tmp_path)):
    owner = json.loads((tmp_path / workdir_lock.LOCK_NAME).read_text())
  assert owner["pid"] != int(gone.stdout)
  assert "Taking over" in caplog.text


def test_a_lock_from_another_host_is_refused_and_kept(tmp_path):
  _write_lock(tmp_path, 1, "elsewhere")
  with pytest.raises(workdir_lock.LockedError, match="pid 1 on elsewhere"):
    with workdir_lock.hold(str(tmp_path)):
      pass
  assert (tmp_path / workdir_lock.LOCK_NAME).exists()


def test_only_the_chief_holds_it(tmp_path):
  with workdir_lock.hold(str(tmp_path), enabled=False):
    assert not (tmp_path / workdir_lock.LOCK_NAME).exists()
