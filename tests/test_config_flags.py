"""Flags <-> config: presets parse, round-trip, and bad values fail clearly."""

import dataclasses
import glob
import json
import os

from absl import flags
import pytest

from s2f_tf import config as config_lib
from s2f_tf import config_families
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
  old = _old_config(OLD_SKETCH2FACE)
  del old["model"]["task"]
  assert config_lib.Config.from_dict(old).model.task == "sketch2face"
  old["model"]["model"] = "dcgan"
  config = config_lib.Config.from_dict(old)
  assert config.model.task == "unconditional"
  assert config.family == config_families.UnconditionalConfig()


# config.json as written before per-family sections (commit cf5659f): every
# family's fields in the shared sections. The default sketch2face run:
OLD_SKETCH2FACE = {
    "data": {"flip": True, "heldout_fraction": 0.1, "identity_file": "",
             "image_folder": "", "image_size": 64, "k_refs": 3,
             "root": "data/synth_faces", "sketch_method": "xdog",
             "split_seed": 0, "synth_identities": 200,
             "synth_per_identity": 12, "synth_seed": 0, "synth_size": 128,
             "synthesize": True},
    "model": {"add_dist": False, "base_channels": 32, "cam": False,
              "d_channels": 32, "d_layers": 3, "label_nc": 19,
              "mapping_layers": 8, "mlp_dim": 128, "model": "",
              "n_downsample": 2, "n_res": 4, "n_up": 5, "norm_mode": "spade",
              "num_d": 2,
              "param_free_norm": "instance", "spade_hidden": 128,
              "style_dim": 128, "style_mixing": 0.9, "style_pool": 1,
              "style_source": "embedder", "task": "sketch2face",
              "up_kernel": 5, "use_vae": False, "z_dim": 100},
    "train": {"batch_size": 8, "beta1": 0.0, "beta2": 0.999,
              "check_numerics": "grads", "checkpoint_every": 500,
              "collapse_patience": 5, "d_lr": 0.0004, "ema_beta": 0.999,
              "eval_at_end": True, "eval_episodes": 256, "eval_every": 0,
              "g_lr": 0.0001, "gan_loss": "hinge", "gp_lambda": 10.0,
              "histogram_every": 0, "image_every": 250, "inception": "",
              "init_from": "", "jit_compile": False, "keep_checkpoints": 3,
              "kid_subset_size": 1000, "lambda_cam": 1.0, "lambda_fm": 1.0,
              "lambda_kld": 0.05, "lambda_l1": 10.0, "lambda_recon": 1.0,
              "lambda_vgg": 0.0, "log_every": 50, "lr_decay_steps": 0,
              "metrics": "", "n_critic": 1, "pl_interval": 4,
              "pl_weight": 2.0, "precision": "float32", "precision_auto": "",
              "preemption_grace_s": 25.0, "profile_steps": "",
              "r1_gamma": 0.0, "r1_interval": 16, "r2_gamma": 0.0,
              "seed": 0, "shared_generator_pass": False,
              "shared_pass_steps": 0, "steps": 1000,
              "stop_on_collapse": False, "strategy": "default",
              "vgg_weights": "", "weight_decay": 0.0, "wgan_clip": 0.01}}


def _old_config(base, **changes):
  """A deep copy of `base` with {"section.key": value} changes."""
  old = json.loads(json.dumps(base))
  for key, value in changes.items():
    section, name = key.split(".")
    old[section][name] = value
  return old


# flags/stylegan2_demo.cfg's run, resolved (its differences from the above).
OLD_STYLEGAN2 = _old_config(OLD_SKETCH2FACE, **{
    "data.image_size": 32, "model.base_channels": 16,
    "model.model": "stylegan2", "model.task": "stylegan2", "model.z_dim": 128,
    "train.batch_size": 16, "train.beta2": 0.99, "train.checkpoint_every": 1000,
    "train.d_lr": 0.002, "train.ema_beta": 0.99, "train.g_lr": 0.002,
    "train.gan_loss": "non_saturating", "train.metrics": "swd",
    "train.r1_gamma": 0.05, "train.steps": 3000})


def test_an_old_sketch2face_config_json_moves_its_family_into_the_section(
    tmp_path):
  old = _old_config(OLD_SKETCH2FACE, **{
      "model.cam": True, "model.n_res": 2, "model.style_dim": 64,
      "train.lambda_l1": 5.0, "train.lambda_cam": 0.5,
      "model.norm_mode": "sean", "model.z_dim": 7})  # Others': dropped.
  with open(tmp_path / "config.json", "w") as f:
    json.dump(old, f)
  config = config_lib.load_config(str(tmp_path))
  assert config.family == config_families.Sketch2FaceConfig(
      cam=True, n_res=2, style_dim=64, lambda_l1=5.0, lambda_cam=0.5)
  assert (config.model.base_channels, config.train.g_lr,
          config.data.image_size) == (32, 1e-4, 64)
  new = config.to_dict()
  assert sorted(new) == ["data", "model", "sketch2face", "train"]
  assert "cam" not in new["model"] and "lambda_l1" not in new["train"]
  assert "image_folder" not in new["data"]
  config_lib.save_config(config, str(tmp_path))
  assert config_lib.load_config(str(tmp_path)) == config


def test_an_old_stylegan2_config_json_loads_as_the_same_run(monkeypatch):
  config = config_lib.Config.from_dict(_old_config(OLD_STYLEGAN2))
  assert config.family == config_families.StyleGAN2Config(z_dim=128)
  assert (config.model.task, config.model.model, config.train.r1_gamma,
          config.data.image_size) == ("stylegan2", "stylegan2", 0.05, 32)
  monkeypatch.chdir(REPO)  # The preset includes the 64 px one by path.
  fv = _parse(["--flagfile=flags/stylegan2_demo.cfg"])
  assert s2f_flags.config_from_flags(fv) == config


def test_an_old_config_json_with_an_unknown_key_is_still_refused():
  for section in ("model", "train", "data"):
    old = _old_config(OLD_SKETCH2FACE, **{f"{section}.camm": True})
    with pytest.raises(ValueError, match=rf"'{section}' has unknown keys "
                       r"\['camm'\]"):
      config_lib.Config.from_dict(old)


def test_new_config_json_refuses_misplaced_or_unknown_keys():
  config = config_lib.tiny_config()
  misplaced = config.to_dict()
  misplaced["model"]["cam"] = True  # The family's field, in a shared section.
  with pytest.raises(ValueError, match=r"'model' has unknown keys \['cam'\]"):
    config_lib.Config.from_dict(misplaced)
  typo = config.to_dict()
  typo["sketch2face"]["n_ress"] = 2
  with pytest.raises(ValueError, match=r"'sketch2face' has unknown keys"):
    config_lib.Config.from_dict(typo)
  foreign = config.to_dict()
  foreign["stylegan2"] = {"z_dim": 3}
  with pytest.raises(ValueError, match=r"unknown sections \['stylegan2'\]"):
    config_lib.Config.from_dict(foreign)


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
  m, t, f = config.model, config.train, config.family
  name = preset.split("_")[0]
  assert (m.task, m.model, config.data.image_size) == (name, name, size)
  if name == "stylegan2":
    assert (f.mapping_layers, f.style_mixing, t.gan_loss) == (
        8, 0.9, "non_saturating")
    assert (t.r1_interval, f.pl_interval, f.pl_weight) == (16, 4, 2.0)
  else:
    assert (t.gan_loss, f.lambda_recon) == ("hinge", 1.0)
  # ADA for StyleGAN2 (its -ADA paper), DiffAugment for LightweightGAN (as
  # lucidrains'); the CPU demos keep their pictures' setting, none.
  augment = {"stylegan2": "ada", "lightweight": "diffaug"}[name]
  assert t.augment == ("none" if preset.endswith("demo") else augment)
  assert (t.ada_target, t.ada_interval, t.ada_kimg) == (0.6, 4, 500)

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
     "^--z_dim is a flag of --task=unconditional or --task=stylegan2 or "
     "--task=lightweight;"),
    (["--task=unconditional", "--lambda_l1=3"],
     "^--lambda_l1 is a flag of --task=sketch2face or --task=label2face;"),
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


def test_each_builtin_task_declares_its_registered_section():
  for name in tasks.names():
    assert tasks.task_class(name).CONFIG is config_families.section_class(
        name), name


def test_a_config_whose_family_is_not_its_tasks_is_refused():
  config = config_lib.tiny_config()
  wrong = dataclasses.replace(config, model=dataclasses.replace(
      config.model, task="label2face", model="label2face"))
  with pytest.raises(ValueError, match="^config.family is a Sketch2FaceConfig,"
                     " but --task=label2face reads a Label2FaceConfig; "):
    tasks.validate(wrong)
  right = config_lib.with_task(config, "label2face", "label2face", n_up=2)
  tasks.validate(right)
  tiny = config.family  # The PatchGAN's fields are both families': kept.
  assert right.family == config_families.Label2FaceConfig(
      n_up=2, style_dim=tiny.style_dim, num_d=tiny.num_d,
      d_layers=tiny.d_layers, d_channels=tiny.d_channels)


@pytest.mark.parametrize("fields, message", [
    ({"z_dim": (int, 64)}, "declares --z_dim unlike --task=unconditional or "
     "stylegan2 or lightweight: one flag serves both"),
    ({"batch_size": (int, 2)}, "redefines the shared flag --batch_size"),
])
def test_a_section_that_disagrees_with_a_flag_is_refused(fields, message):
  section = dataclasses.make_dataclass(
      "Clash", [(name, kind, config_families.field(default, "Clash."))
                for name, (kind, default) in fields.items()],
      bases=(config_families.FamilyConfig,), frozen=True)
  with pytest.raises(ValueError, match=message):
    config_lib.register_family("clash", section)
  assert "clash" not in config_families.owners("z_dim")
  with pytest.raises(ValueError, match="'clash' is unknown"):
    config_families.section_class("clash")


def test_a_task_named_like_a_shared_section_is_refused():
  with pytest.raises(ValueError, match="'train' is named like a shared"):
    config_lib.register_family("train", config_families.FamilyConfig)
