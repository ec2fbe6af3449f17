"""pix2pixHD's precompute step: k-means of the region features, per class.

  python tools/cluster_features.py --workdir=runs/p2p_feat [--clusters=10]

Reads a `--model=pix2pixhd --label_feat` run's latest checkpoint, encodes
every training photo, averages the features inside each class region and
clusters them per class (`s2f_tf.clusters`); writes
`<workdir>/features/clusters.npz` and prints each class's cluster sizes.
Then `s2f-sample --workdir=... --labels=mask.png --clusters=hair:3` draws
the face with cluster 3's hair.
"""

from absl import app
from absl import flags

flags.DEFINE_string("workdir", None, "A pix2pixhd --label_feat run.")
flags.DEFINE_integer("clusters", 10, "Centres per class (pix2pixHD: 10).")
flags.DEFINE_integer("seed", 0, "k-means++ seeding.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  result = clusters.compute(FLAGS.workdir, FLAGS.clusters, FLAGS.seed)
  path = clusters.save(FLAGS.workdir, result)
  print("| class | photos | cluster sizes, largest first |")
  print("| --- | ---: | --- |")
  for name, (_, sizes) in result.items():
    print(f"| {name} | {int(sizes.sum())} | "
          f"{' '.join(str(int(s)) for s in sizes)} |")
  print(f"wrote {path}")


if __name__ == "__main__":
  app.run(main)
