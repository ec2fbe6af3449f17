"""s2f-sample --clusters from an export as from a run (issue 25).

pix2pixHD's clustered region styles are drawn through the model's
`label2face_features` signature; an export carries the run's centres in its
assets, so a user who only has the export picks clusters as well.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import serve_models
from test_pix2pixhd import p2p_config
from s2f_tf import clusters
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf.data import decode
from s2f_tf.data import layout

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def clustered(tiny_data_root, tmp_path_factory):
  """A fresh --label_feat run with centres, its export (carrying them),
  and that export as one made before the centres existed would be (no
  assets/clusters.npz; a copy, not a second export: the check reads no
  more than that)."""
  root = tmp_path_factory.mktemp("clusters")
  config = p2p_config(tiny_data_root, family={"label_feat": True, "nef": 4})
  task, generator, workdir = serve_models.clustered_run(config,
                                                        str(root / "run"))
  labels = task.training_split().masks[0]
  assert (labels == layout.CLASS_ID["hair"]).any()
  mask = str(root / "mask.png")
  decode.write_png(mask, labels)
  exported = export.export(task, generator, str(root / "export"),
                           assets=clusters.export_assets(workdir))
  bare = str(root / "bare_export")
  shutil.copytree(exported, bare)
  os.remove(export.asset_path(bare, "clusters.npz"))
  return dict(root=root, workdir=workdir, labels=labels, mask=mask,
              export=exported, bare_export=bare)


@pytest.mark.slow
def test_cli_draws_the_exports_clusters_as_the_run_does(clustered):
  """The command line on the export: the face its centres give, which is
  the run's to uint8 rounding (export verifies the float image to 1e-5, so
  a pixel may round to the neighbouring value), and another hair cluster
  changes it."""
  out = str(clustered["root"] / "face.png")
  subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.sample_main",
       f"--export_dir={clustered['export']}", f"--labels={clustered['mask']}",
       "--clusters=hair:1", f"--out={out}"],
      capture_output=True, text=True, check=True,
      env={**os.environ, "PYTHONPATH": REPO})
  face = decode.read_image(out, "rgb")
  from_export = clusters.draw(clustered["labels"], "hair:1",
                              export_dir=clustered["export"])
  np.testing.assert_array_equal(face, from_export)
  from_run = clusters.draw(clustered["labels"], "hair:1",
                           workdir=clustered["workdir"])
  assert np.abs(face.astype(int) - from_run).max() <= 1
  default = clusters.draw(clustered["labels"], "",
                          export_dir=clustered["export"])
  assert np.abs(face.astype(int) - default).max() > 1


def test_an_export_without_centres_names_the_tool(clustered):
  with pytest.raises(FileNotFoundError) as error:
    clusters.draw_file(clustered["mask"], "hair:1", "x.png",
                       export_dir=clustered["bare_export"])
  assert str(error.value) == (
      f"{clustered['bare_export']} carries no cluster centres: run python "
      "tools/cluster_features.py --workdir=RUN, then s2f-export the run "
      "again (its centres go into the export's assets)")


def test_a_model_without_region_features_is_refused_before_loading(
    tiny_data_root, tmp_path):
  """A label2face SEAN run has no region features to cluster: refused from
  its config.json, before its checkpoint is read (there is none here)."""
  config = config_lib.with_task(config_lib.tiny_config(root=tiny_data_root),
                                "label2face", "label2face", norm_mode="sean")
  workdir = str(tmp_path / "sean")
  os.makedirs(workdir)
  config_lib.save_config(config, workdir)
  with pytest.raises(ValueError) as error:
    clusters.draw_file(os.path.join(workdir, "none.png"), "hair:1", "x.png",
                       workdir=workdir)
  assert str(error.value) == (
      "--clusters picks pix2pixHD's region features; this model "
      "(--task=label2face --model=label2face) has none: train with "
      "--model=pix2pixhd --label_feat")
