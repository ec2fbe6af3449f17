"""SWD/FID/KID in the one evaluation path (s2f_tf.evaluate), for any task."""

import dataclasses
import json
import logging
import os

from absl import flags
import pytest

import fake_runs
from s2f_tf import config as config_lib
from s2f_tf import evaluate
from s2f_tf import flags as s2f_flags
from s2f_tf import tasks
from s2f_tf.metrics import inception


def _dcgan_config(root, **train_overrides):
  tiny = config_lib.tiny_config(root=root)
  return config_lib.with_task(config_lib.Config(
      data=dataclasses.replace(tiny.data, image_size=32),
      model=config_lib.ModelConfig(base_channels=8),
      train=dataclasses.replace(tiny.train, ema_beta=0.0, eval_episodes=16,
                                **train_overrides)), "unconditional", "dcgan",
                              z_dim=16)


def _evaluate(config, workdir, **settings):
  task = tasks.make_task(config)
  sample = task.make_sampler(task.build_generator())
  return evaluate.evaluate_run(
      task, sample, 3, workdir,
      settings=dataclasses.replace(config.train, **settings))


def test_unconditional_run_gets_swd_fid_kid_with_image_counts(
    tiny_data_root, tmp_path):
  stand_in = inception.write_stand_in(str(tmp_path / inception.GRAPH_FILE),
                                     features=64)
  # psnr,ssim: an older config.json's names this task does not offer are
  # skipped, not an error.
  results = _evaluate(_dcgan_config(tiny_data_root), str(tmp_path),
                      metrics="psnr,ssim,swd,fid,kid", inception=stand_in,
                      kid_subset_size=8)
  assert set(results) == {"swd", "fid", "kid", "step"}
  assert results["swd"]["images"] == results["fid"]["images"] == 16
  assert results["kid"]["subset_size"] == 8
  with open(tmp_path / "eval.json") as f:
    assert json.load(f) == results
  assert os.listdir(tmp_path / "eval")  # TensorBoard events


def test_without_inception_fid_kid_are_one_line_and_swd_runs(
    tiny_data_root, tmp_path, caplog):
  with caplog.at_level(logging.WARNING, logger="absl"):
    results = _evaluate(_dcgan_config(tiny_data_root), str(tmp_path),
                        metrics="swd,fid,kid", inception="")
  assert set(results) == {"swd", "step"}
  skipped = [r.getMessage() for r in caplog.records
             if "skipped" in r.getMessage()]
  assert len(skipped) == 1
  assert skipped[0].startswith("FID and KID skipped: no --inception;")


def test_corrupt_inception_is_one_line_and_swd_runs(tiny_data_root, tmp_path,
                                                    caplog):
  corrupt = tmp_path / "classify_image_graph_def.pb"
  corrupt.write_bytes(b"\x0a\xff\xff\xff\x0f not a graph")
  with caplog.at_level(logging.WARNING, logger="absl"):
    results = _evaluate(_dcgan_config(tiny_data_root), str(tmp_path),
                        metrics="swd,fid", inception=str(corrupt))
  assert set(results) == {"swd", "step"}
  lines = [r.getMessage() for r in caplog.records if "FID" in r.getMessage()]
  assert len(lines) == 1 and "\n" not in lines[0]
  assert "inception-2015-12-05.tgz" in lines[0]


def test_metric_names_are_checked_before_anything_runs(tiny_data_root):
  config = _dcgan_config(tiny_data_root, metrics="psnr,fidd")
  with pytest.raises(ValueError, match=r"--metrics='psnr,fidd' has unknown "
                     r"\['psnr', 'fidd'\]; --task=unconditional offers "
                     r"swd,fid,kid"):
    tasks.validate(config)


def test_s2f_eval_flags_override_only_what_is_given():
  values = flags.FlagValues()
  s2f_flags.define_eval_flags(values)
  values(["s2f-eval", "--metrics=swd,fid", "--inception=/x/inception.tgz"])
  assert s2f_flags.eval_overrides(values) == {
      "metrics": "swd,fid", "inception": "/x/inception.tgz"}


def test_fid_and_kid_by_name_need_a_readable_inception_up_front(
    tiny_data_root, tmp_path):
  """s2f-train (tasks.validate) and s2f-eval (evaluate_workdir) refuse
  FID/KID without a readable file before anything runs (issue 28); the
  library's mid-run skip above stays for a file that goes bad later."""
  config = _dcgan_config(tiny_data_root, metrics="swd,fid,kid")
  with pytest.raises(inception.InceptionError) as error:
    tasks.validate(config)
  assert str(error.value) == (
      "--metrics='swd,fid,kid' asks for FID and KID, which need "
      f"--inception=PATH ({inception.STANDARD_FILE}); or drop fid,kid from "
      "--metrics")
  empty = tmp_path / inception.GRAPH_FILE
  empty.write_bytes(b"")
  with pytest.raises(inception.InceptionError, match="is empty"):
    tasks.validate(_dcgan_config(tiny_data_root, metrics="kid",
                                 inception=str(empty)))
  tasks.validate(_dcgan_config(tiny_data_root, metrics="swd"))  # No FID.
  task = tasks.make_task(_dcgan_config(tiny_data_root))
  workdir = fake_runs.generator_workdir(task.config, task.build_generator(),
                                        str(tmp_path / "run"))
  for overrides in ({"metrics": "fid", "inception": "/nonexistent.pb"},
                    {"inception": str(empty)}):
    asks_fid = dataclasses.replace(task.config, train=dataclasses.replace(
        task.config.train, metrics="fid"))
    config_lib.save_config(asks_fid, workdir)
    with pytest.raises(inception.InceptionError):
      evaluate.evaluate_workdir(workdir, 4, **overrides)
  assert not os.path.exists(os.path.join(workdir, "eval.json"))


def test_real_features_are_cached_and_give_the_same_fid(tiny_data_root,
                                                        tmp_path,
                                                        monkeypatch):
  """Issue 28: every evaluation ran Inception on the same real images
  again. The second evaluation reads their features from the user's cache
  (Inception sees only the generated images) and gives the same FID and KID
  bit for bit; --nocache_real_features, another Inception file or a damaged
  cache file recompute them."""
  from s2f_tf.metrics import distribution  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
  stand_in = inception.write_stand_in(str(tmp_path / inception.GRAPH_FILE),
                                     features=64)
  seen = []
  network = distribution._network  # pylint: disable=protected-access

  def counting(path):
    net = network(path)
    return lambda images: (seen.append(len(images)), net(images))[1]

  monkeypatch.setattr(distribution, "_network", counting)
  config = _dcgan_config(tiny_data_root)
  settings = dict(metrics="fid,kid", inception=stand_in, kid_subset_size=8)

  def run(**extra):
    seen.clear()
    results = _evaluate(config, str(tmp_path / "run"), **settings, **extra)
    return results, sum(seen)

  first, images_first = run()
  assert images_first == 32  # 16 real and 16 generated.
  cached = os.listdir(tmp_path / "cache" / "s2f_tf" / "real_features")
  assert len(cached) == 1
  second, images_second = run()
  assert images_second == 16  # The generated ones only.
  assert second["fid"] == first["fid"] and second["kid"] == first["kid"]
  assert run(cache_real_features=False)[1] == 32
  path = tmp_path / "cache" / "s2f_tf" / "real_features" / cached[0]
  path.write_bytes(b"damaged")
  damaged, images_damaged = run()
  assert images_damaged == 32 and damaged["fid"] == first["fid"]
  assert run()[1] == 16  # Rewritten whole.
  stat = os.stat(stand_in)  # Another Inception file: another key.
  os.utime(stand_in, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
  assert run()[1] == 32
