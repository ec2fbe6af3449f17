"""HParams summaries, read back with TensorBoard's own reader and parser."""

import dataclasses

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata
from tensorboard.util import tensor_util

from s2f_tf import config as config_lib
from s2f_tf import hparams


def _read(logdir):
  """(hparams of the session, {metric tag: last value}) as TensorBoard sees."""
  accumulator = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
  starts = [metadata.parse_session_start_info_plugin_data(c)
            for tag, c in content.items()
            if tag == metadata.SESSION_START_INFO_TAG]
  assert len(starts) == 1
  values = {name: getattr(value, value.WhichOneof("kind"))
            for name, value in starts[0].hparams.items()}
  metrics = {tag: float(tensor_util.make_ndarray(
      accumulator.Tensors(tag)[-1].tensor_proto))
             for tag in accumulator.Tags()["tensors"] if tag not in content}
  return values, metrics


def test_each_run_logs_its_flags_and_metrics(tmp_path):
  few_shot = config_lib.tiny_config(root="faces", g_lr=3e-4)
  dcgan = dataclasses.replace(
      config_lib.with_task(few_shot, "unconditional", "dcgan"),
      train=dataclasses.replace(few_shot.train, gan_loss="wgan", n_critic=5))
  hparams.write_hparams(str(tmp_path / "a"), few_shot,
                        {"model/psnr": 18.5, "model/ssim": 0.6}, step=20)
  hparams.write_hparams(str(tmp_path / "b"), dcgan, {"last/g_adv": -0.25})
  a_flags, a_metrics = _read(str(tmp_path / "a" / "hparams"))
  b_flags, b_metrics = _read(str(tmp_path / "b" / "hparams"))
  assert a_flags["model"] == "s2f" and b_flags["model"] == "dcgan"
  assert a_flags["g_lr"] == 3e-4 and a_flags["data_root"] == "faces"
  assert b_flags["gan_loss"] == "wgan" and b_flags["n_critic"] == 5
  assert a_flags["eval_at_end"] is False
  assert a_metrics == {"model/psnr": 18.5,
                       "model/ssim": 0.6000000238418579}
  assert b_metrics == {"last/g_adv": -0.25}


def test_a_rewrite_replaces_the_flags_of_a_resumed_run(tmp_path):
  config = config_lib.tiny_config(root="faces")
  hparams.write_hparams(str(tmp_path), config)
  longer = dataclasses.replace(
      config, train=dataclasses.replace(config.train, steps=80))
  logdir = hparams.write_hparams(str(tmp_path), longer, {"model/psnr": 1.0})
  flags, metrics = _read(logdir)
  assert flags["steps"] == 80 and metrics == {"model/psnr": 1.0}
