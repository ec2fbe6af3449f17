"""tf.distribute: a mirrored step is a single-device step; two workers train
and share ADA's p.

TensorFlow runs in child processes here: logical devices and the worker
cluster must be configured before TensorFlow initialises, which the pytest
process has long done. Those two tests take 15-60 s each on two CPU
cores.
"""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf

import step_comparison
import test_tasks_lightweight
from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import distribute
from s2f_tf import train
from s2f_tf.cli import common
from s2f_tf.data import reader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300  # Seconds; a hung collective fails the test instead of CI.
# flags/smoke.cfg's model with one D scale and one downsampling: about half
# its ops, so each worker builds and traces its steps in about half the
# time. What the worker tests check (collectives, reduced measurements,
# checkpoints, preemption) does not depend on the model's size.
SMALLER = ("--num_d=1", "--n_downsample=1")


def _child_env(**extra):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  return dict(env, TF_CPP_MIN_LOG_LEVEL="2", **extra)


def _as_task(monkeypatch, cluster, task_type, index):
  """A strategy stand-in whose TF_CONFIG names this task."""
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": cluster, "task": {"type": task_type, "index": index}}))
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  return types.SimpleNamespace(cluster_resolver=resolver)


def test_chief_is_the_chief_task_else_worker_0(monkeypatch):
  workers = {"worker": ["a:1", "b:1"]}
  ranks = [distribute.worker_rank(_as_task(monkeypatch, workers, "worker", i))
           for i in range(2)]
  assert ranks == [0, 1]
  with_chief = dict(workers, chief=["c:1"])
  ranks = [distribute.worker_rank(_as_task(monkeypatch, with_chief, *task))
           for task in (("chief", 0), ("worker", 0), ("worker", 1))]
  assert ranks == [0, 1, 2]
  assert distribute.is_chief(tf.distribute.get_strategy())


def test_global_batch_must_split_evenly_over_replicas():
  with pytest.raises(ValueError, match="multiple of 3"):
    distribute.distribute_dataset(
        types.SimpleNamespace(num_replicas_in_sync=3),
        tf.data.Dataset.range(8).batch(4), 4)


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True], ids=["alternating",
                                                        "shared"])
def test_mirrored_step_equals_single_device_step(shared, tiny_data_root,
                                                 tmp_path):
  """One D step (with R1) and one G step, global batch 8, on 1 and 2 devices;
  or one shared step (--shared_generator_pass, which has no R1).

  Both by SGD: gradients, weights, EMA weights and spectral-norm vectors
  must agree to float32 rounding (step_comparison.py derives the bounds).
  The gradients compared are the all-reduced ones the step applied, so a
  sum over replicas that is not the global-batch mean would show as a
  difference of the gradient's own size.
  """
  config = config_lib.tiny_config(
      root=tiny_data_root, batch_size=8, shared_generator_pass=shared,
      **({} if shared else {"r1_gamma": 1.0, "r1_interval": 4}))
  result = step_comparison.run_mirrored_step(config, str(tmp_path), TIMEOUT)
  assert result["replicas"] == 2 and result["copies"] == [2]
  assert result["replicas_differ"] == []  # Weights, u, EMA, velocities.
  step_comparison.assert_within_bounds(result["groups"])


def test_importing_the_toolkit_leaves_tensorflow_unstarted():
  """A tensor made at import (a module-level tf.constant) starts
  TensorFlow's runtime, and --strategy=multiworker can then no longer
  configure its collectives ("Collective ops must be configured at program
  startup"): every library module imports without starting it (not the
  entry points of s2f_tf.cli, which each define their flags)."""
  script = (
      "import importlib, pkgutil, s2f_tf\n"
      "from tensorflow.python.eager import context\n"
      "for m in pkgutil.walk_packages(s2f_tf.__path__, 's2f_tf.'):\n"
      "  if m.name.startswith('s2f_tf.cli.'):\n"
      "    continue\n"
      "  importlib.import_module(m.name)\n"
      "  if context.context()._context_handle is not None:\n"
      "    raise SystemExit(m.name + ' starts the runtime at import')\n")
  out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=TIMEOUT, env=_child_env(),
                       check=False, cwd=REPO)
  assert out.returncode == 0, out.stderr[-2000:]


def _free_ports(n: int):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _train_command(data_root, extra=()):
  """workdir -> the argv of `s2f-train --strategy=multiworker` on the smoke
  preset."""
  return lambda workdir: [
      "-m", "s2f_tf.cli.train_main",
      f"--flagfile={os.path.join(REPO, 'flags', 'smoke.cfg')}",
      f"--data_root={data_root}", f"--workdir={workdir}",
      "--strategy=multiworker", "--steps=4", "--checkpoint_every=2",
      "--image_every=4", "--eval_at_end=false", *SMALLER, *extra]


def _launch_worker(index, ports, argv, log, tmpdir):
  """One Python process `argv` as worker `index` of a loopback cluster."""
  tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
               "task": {"type": "worker", "index": index}}
  return subprocess.Popen(
      [sys.executable, *argv], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
      env=_child_env(TF_CONFIG=json.dumps(tf_config), TMPDIR=tmpdir))


def _results(log_path: str):
  """The results JSON s2f-train prints last.

  Parsed up to its closing brace: the log is stdout and stderr together,
  and TensorFlow's coordination service may still log a line as the worker
  exits (seen under load, after a clean exit 0).
  """
  with open(log_path) as f:
    text = f.read()
  return json.JSONDecoder().raw_decode(text, text.rindex("\n{\n") + 1)[0]


def _run_two_workers(command, tmp_path, while_running=None):
  """Runs `command(workdir)` (an argv after python) as two workers to the
  end.

  Returns (exit codes, log paths, workdir, the workers' TMPDIR).

  `while_running(procs, workdir)` is called once both have started.
  """
  workdir = str(tmp_path / "run")
  tmpdir = tmp_path / "tmp"  # Where worker 1 saves and deletes checkpoints.
  tmpdir.mkdir()
  paths = [str(tmp_path / f"worker{i}.log") for i in range(2)]
  # Logs go to files, not pipes: a full pipe would stall one worker, and a
  # stalled worker stalls the other's collectives.
  logs = [open(p, "w") for p in paths]
  ports = _free_ports(2)
  procs = []
  try:
    for index, log in enumerate(logs):
      procs.append(_launch_worker(index, ports, command(workdir), log,
                                  str(tmpdir)))
    if while_running:
      while_running(procs, workdir)
    codes = [p.wait(timeout=TIMEOUT) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
    for log in logs:
      log.close()
  return codes, paths, workdir, tmpdir


@pytest.mark.slow
def test_two_workers_train_and_chief_checkpoint_restores_on_one_device(
    tiny_config, tmp_path):
  """flags/smoke.cfg on 2 workers (1 CPU replica each), global batch 4."""
  data = tiny_config().data  # The smoke preset's data and image size.
  reader.load_splits(data)  # Decode once: the workers share the cache.
  codes, paths, workdir, tmpdir = _run_two_workers(
      _train_command(data.root), tmp_path)
  for code, path in zip(codes, paths):
    with open(path) as f:
      assert code == 0, f.read()[-4000:]
  assert not os.listdir(tmpdir)

  chief, other = (_results(p) for p in paths)
  assert chief["step"] == other["step"] == 4
  assert chief["last"] == other["last"]  # Measurements reduced over workers.
  ckpt_dir = checkpointing.checkpoint_dir(workdir)
  assert sorted(os.listdir(ckpt_dir)) == [
      "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index",
      "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
  assert os.listdir(os.path.join(workdir, "samples")) == ["step_0000004.png"]

  saved = config_lib.load_config(workdir)
  single = dataclasses.replace(saved, train=dataclasses.replace(
      saved.train, strategy="default"))
  state = train.setup(single, workdir)  # Asserts every variable was found.
  assert int(state.step.numpy()) == 4
  assert int(state.g_opt.iterations.numpy()) == 4


def _sigterm_worker_1_once_training(procs, workdir):
  samples = os.path.join(workdir, "samples")
  deadline = time.time() + TIMEOUT
  while not os.path.isdir(samples):
    assert all(p.poll() is None for p in procs), "a worker ended early"
    assert time.time() < deadline, "training never started"
    time.sleep(0.5)
  procs[1].send_signal(signal.SIGTERM)


@pytest.mark.slow
def test_sigterm_to_one_worker_saves_on_all_at_one_step(tiny_config,
                                                        tmp_path):
  """PreemptionCheckpointHandler: the cluster agrees on the step to save."""
  data = tiny_config().data
  reader.load_splits(data)
  codes, paths, workdir, _ = _run_two_workers(
      _train_command(data.root, ("--steps=100000", "--checkpoint_every=100000",
                                 "--image_every=2")),
      tmp_path, _sigterm_worker_1_once_training)
  logs = []
  for path in paths:
    with open(path) as f:
      logs.append(f.read())
  assert codes == [common.PREEMPTED] * 2, [log[-3000:] for log in logs]
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  step = int(latest.rsplit("-", 1)[1])
  for log in logs:
    assert (f"stopped by SIGTERM; checkpoint saved at step {step}." in log
            ), log[-3000:]


# Each worker's ADA updates: the sums it read (its own share and the
# cluster's) and p before and after. Run as both workers.
_ADA_WORKER = """
import json, sys
from s2f_tf import ada
from s2f_tf import config as config_lib
from s2f_tf import train
config = config_lib.Config.from_dict(json.loads(sys.argv[1]))
state = train.setup(config, sys.argv[2])
state.checkpoint.ada_p.assign(0.5)  # Each update moves it off 0.5.
local = lambda v: [float(x.numpy()) for x in
                   state.strategy.experimental_local_results(v)]
updates, update = [], ada.AdaptiveProbability.update

def recorded(self):
  updates.append({"own_signs": local(self.signs),
                  "own_images": local(self.images),
                  "signs": float(self.signs.read_value()),  # All workers'.
                  "images": float(self.images.read_value()),
                  "before": float(self.p.numpy())})
  updates[-1].update(r_t=update(self), after=float(self.p.numpy()))

ada.AdaptiveProbability.update = recorded
results = train.Loop(state).run()
print(json.dumps({"updates": updates, "p": local(state.checkpoint.ada_p),
                  "d": results["last"]["d"]}, indent=2))
"""


@pytest.mark.slow
def test_two_workers_share_one_ada_p_moved_by_both_workers_images(
    tiny_data_root, tmp_path):
  """--augment=ada on 2 workers (1 CPU replica each), global batch 4, p
  updated after each of 3 steps: each update reads r_t over the global
  batch (each worker's own 2 images' sign sums, added), and moves p by
  sign(r_t - target) x 4 / 1,000 on both workers alike; D logs that p.

  Its own run, not a flag on the smoke run above: s2f-train prints p, not
  the sums that moved it, and without them a p moved by one worker's half
  of the batch (steps of 2 / 1,000) could not be told from the right one.
  """
  # pylint: disable-next=protected-access
  config = test_tasks_lightweight._config(
      tiny_data_root, augment="ada", ada_interval=1, ada_kimg=1,
      strategy="multiworker", steps=3, log_every=3, image_every=100,
      checkpoint_every=100, eval_at_end=False)
  command = lambda workdir: ["-c", _ADA_WORKER, json.dumps(config.to_dict()),
                             workdir]
  codes, paths, _, _ = _run_two_workers(command, tmp_path)
  for code, path in zip(codes, paths):
    with open(path) as f:
      assert code == 0, f.read()[-4000:]
  runs = [_results(p) for p in paths]
  cluster = lambda run: [{k: v for k, v in u.items() if not k.startswith(
      "own_")} for u in run["updates"]]
  updates = cluster(runs[0])
  assert cluster(runs[1]) == updates  # The sums, r_t and p.
  assert runs[0]["p"] == runs[1]["p"] == [updates[-1]["after"]]
  assert runs[0]["d"] == runs[1]["d"]  # D's measurements, reduced.
  assert len(updates) == 3 and updates[0]["before"] == np.float32(0.5)
  for i, u in enumerate(updates):
    own = [run["updates"][i] for run in runs]
    assert [o["own_images"] for o in own] == [[2.0], [2.0]]
    assert u["images"] == 4.0
    # One replica per worker: the all-reduce adds the two shares once.
    assert u["signs"] == np.float32(own[0]["own_signs"][0]) + np.float32(
        own[1]["own_signs"][0])
    assert u["r_t"] == u["signs"] / 4.0
    move = np.sign(u["r_t"] - config.train.ada_target) * 4.0 / 1000
    assert u["after"] == np.float32(np.clip(u["before"] + move, 0.0, 1.0))
    if i:
      assert u["before"] == updates[i - 1]["after"]
  # Read in the last D step, before the last update.
  assert runs[0]["d"]["d/augment_probability"] == updates[-2]["after"]
