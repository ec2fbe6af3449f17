"""Flags <-> config: presets parse, round-trip, and bad values fail clearly."""

import glob
import os

from absl import flags
import pytest

from s2f_tf import config as config_lib
from s2f_tf import flags as s2f_flags
from s2f_tf import tasks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse(argv):
  fv = flags.FlagValues()
  s2f_flags.define_config_flags(fv)
  fv(["prog"] + argv)
  return fv


def test_every_config_field_has_a_flag_with_its_default():
  config = s2f_flags.config_from_flags(_parse([]))
  assert config == tasks.resolve_model(config_lib.Config())


@pytest.mark.parametrize("task", tasks.names())
def test_task_alone_resolves_to_its_default_model(task):
  config = s2f_flags.config_from_flags(_parse([f"--task={task}"]))
  assert config.model.model == tasks.task_class(task).MODELS[0]


def test_smoke_preset_sets_the_tiny_model():
  fv = _parse([f"--flagfile={REPO}/flags/smoke.cfg"])
  config = s2f_flags.config_from_flags(fv)
  assert config.data.image_size == 16
  assert config.model.base_channels == 8
  assert config.data.root == "data/synth_smoke"


@pytest.mark.parametrize("preset", ["smoke", "demo"])
def test_written_flagfile_replays_the_same_config(preset, tmp_path):
  fv = _parse([f"--flagfile={REPO}/flags/{preset}.cfg", "--steps=7"])
  config = s2f_flags.config_from_flags(fv)
  path = s2f_flags.write_flagfile(str(tmp_path), fv)
  replayed = s2f_flags.config_from_flags(_parse([f"--flagfile={path}"]))
  assert replayed == config and replayed.train.steps == 7


@pytest.mark.parametrize("path", sorted(glob.glob(f"{REPO}/flags/celebamask_*.cfg")))
def test_real_data_presets_name_the_missing_root(path, tmp_path):
  fv = _parse([f"--flagfile={path}"])
  with pytest.raises(ValueError, match="data/CelebAMask-HQ.*does not exist"):
    s2f_flags.config_from_flags(fv)
  fv = _parse([f"--flagfile={path}", f"--data_root={tmp_path}"])
  config = s2f_flags.config_from_flags(fv)
  assert config.train.precision == "mixed_float16"


@pytest.mark.parametrize("argv, message", [
    (["--image_size=34"], "not divisible by 2\\*\\*n_downsample=4"),
    (["--k_refs=0"], "--k_refs=0 must be >= 1"),
    (["--image_size=512"], "must be in \\[16, 256\\]"),
    (["--batch_size=0"], "--batch_size=0 must be >= 1"),
    (["--n_res=0"], "--n_res must be >= 1"),
    (["--up_kernel=4"], "--up_kernel=4 must be odd"),
    (["--style_pool=3"], "--style_pool=3 must be >= 1 and divide"),
    (["--nosynthesize", "--data_root=/no/such/dir"], "/no/such/dir"),
    (["--task=label2face", "--model=s2f"], "^--task=label2face has no "
     "--model='s2f'; --model=s2f belongs to --task=sketch2face$"),
    (["--model=dcgan"], "^--task=sketch2face has no --model='dcgan'; "
     "--model=dcgan belongs to --task=unconditional$"),
])
def test_bad_flags_give_one_line_errors(argv, message):
  with pytest.raises(ValueError, match=message) as info:
    s2f_flags.config_from_flags(_parse(argv))
  assert "\n" not in str(info.value)


def test_unknown_precision_is_refused_by_the_flag_parser():
  with pytest.raises(flags.IllegalFlagValueError, match="mixed_float16"):
    _parse(["--precision=float16"])


def test_config_json_round_trip_and_unknown_keys(tmp_path):
  config = config_lib.tiny_config(root="x", steps=3)
  config_lib.save_config(config, str(tmp_path))
  assert config_lib.load_config(str(tmp_path)) == config
  bad = config.to_dict()
  bad["train"]["stepz"] = 1
  with pytest.raises(ValueError, match="stepz"):
    config_lib.Config.from_dict(bad)


def test_configs_written_before_the_task_flag_load_as_their_task():
  old = config_lib.Config().to_dict()
  del old["model"]["task"]
  assert config_lib.Config.from_dict(old).model.task == "sketch2face"
  old["model"]["model"] = "dcgan"
  assert config_lib.Config.from_dict(old).model.task == "unconditional"


@pytest.mark.parametrize("preset", ["dcgan_faces64", "wgan_clip_faces64",
                                    "wgan_gp_faces64"])
def test_unconditional_presets_name_their_task(preset):
  config = s2f_flags.config_from_flags(
      _parse([f"--flagfile={REPO}/flags/{preset}.cfg"]))
  assert (config.model.task, config.model.model) == ("unconditional", "dcgan")


@pytest.mark.parametrize("preset, size", [
    ("stylegan2_faces64", 64), ("stylegan2_demo", 32),
    ("lightweight_faces64", 64), ("lightweight_demo", 32)])
def test_stylegan2_and_lightweight_presets_keep_the_papers_settings(
    preset, size, monkeypatch):
  monkeypatch.chdir(REPO)  # Demo presets include the 64 px ones by path.
  config = s2f_flags.config_from_flags(
      _parse([f"--flagfile=flags/{preset}.cfg"]))
  tasks.validate(config)
  m, t = config.model, config.train
  name = preset.split("_")[0]
  assert (m.task, m.model, config.data.image_size) == (name, name, size)
  if name == "stylegan2":
    assert (m.mapping_layers, m.style_mixing, t.gan_loss) == (
        8, 0.9, "non_saturating")
    assert (t.r1_interval, t.pl_interval, t.pl_weight) == (16, 4, 2.0)
  else:
    assert (t.gan_loss, t.lambda_recon) == ("hinge", 1.0)

def test_missing_workdir_config_names_the_path(tmp_path):
  with pytest.raises(FileNotFoundError, match="config.json"):
    config_lib.load_config(str(tmp_path / "nope"))


def test_auto_precision_is_resolved_before_the_config_exists():
  config = s2f_flags.config_from_flags(_parse(["--precision=auto"]))
  assert config.train.precision in config_lib.PRECISIONS
  assert config.train.precision != "auto"


@pytest.mark.parametrize("argv, message", [
    (["--task=stylegan2", "--cam"],
     "^--cam is a flag of --task=sketch2face; --task=stylegan2 does not "
     "read it: drop it$"),
    (["--task=sketch2face", "--norm_mode=clade"],
     "^--norm_mode is a flag of --task=label2face;"),
    (["--task=label2face", "--z_dim=64"],
     "^--z_dim is a flag of --task=unconditional or stylegan2 or "
     "lightweight;"),
    (["--task=unconditional", "--lambda_l1=3"],
     "^--lambda_l1 is a flag of --task=sketch2face or label2face;"),
])
def test_a_family_flag_is_refused_for_another_task(argv, message):
  with pytest.raises(ValueError, match=message):
    s2f_flags.config_from_flags(_parse(argv))


def test_a_family_flag_at_its_default_passes():
  """An old run's flags.cfg lists every flag, most at their defaults."""
  config = s2f_flags.config_from_flags(_parse(["--task=stylegan2",
                                               "--n_res=4", "--nocam"]))
  assert config.model.task == "stylegan2"


def test_flagfile_holds_only_the_runs_family(tmp_path):
  fv = _parse(["--task=label2face", "--norm_mode=clade"])
  config = s2f_flags.config_from_flags(fv)
  text = open(s2f_flags.write_flagfile(str(tmp_path), fv)).read()
  assert "--norm_mode=clade" in text and "--lambda_fm=" in text
  assert "--n_res=" not in text and "--z_dim=" not in text
  assert "--pl_weight=" not in text and "--batch_size=" in text
  replayed = s2f_flags.config_from_flags(_parse([f"--flagfile={tmp_path}/"
                                                 "flags.cfg"]))
  assert replayed == config


def test_helpfull_groups_flags_by_family():
  fv = _parse([])
  groups = {module: {f.name for f in found}
            for module, found in fv.flags_by_module_dict().items()}
  assert {"mapping_layers", "pl_weight", "style_mixing"} <= groups[
      "s2f_tf flags of --task=stylegan2"]
  assert "norm_mode" in groups["s2f_tf flags of --task=label2face"]
  assert "num_d" in groups["s2f_tf flags of --task=sketch2face or label2face"]
  assert {"batch_size", "gan_loss", "base_channels"} <= groups[
      "s2f_tf flags of every task"]
