"""s2f-eval: a trained run's metrics, exactly as at the end of training.

  s2f-eval --workdir=runs/demo
  s2f-eval --workdir=runs/demo --metrics=psnr,ssim,swd,fid,kid \
      --inception=classify_image_graph_def.pb --max_episodes=10000
Writes workdir/eval.json and TensorBoard scalars under workdir/eval.
--metrics, --inception, --kid_subset_size and --kid_protocol default to the
run's own.
"""

import json

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_workdir_flag()
s2f_flags.define_eval_flags()
flags.DEFINE_integer("max_episodes", None,
                     "Examples to score (default: the run's eval_episodes).")
FLAGS = flags.FLAGS


def _evaluate() -> int:
  from s2f_tf import evaluate  # pylint: disable=g-import-not-at-top
  results = evaluate.evaluate_workdir(FLAGS.workdir, FLAGS.max_episodes,
                                      **s2f_flags.eval_overrides())
  print(json.dumps(results, indent=2, sort_keys=True))
  return 0


def main():
  common.main("s2f-eval", _evaluate)


if __name__ == "__main__":
  main()
