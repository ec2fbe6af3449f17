"""s2f-report: a static results site over a folder of runs.

  s2f-report --runs=runs/ --out=report/ [--plots=svg|png|pdf,...]
  open report/index.html     # or copy report/ to any static host

Intentionally short: all logic is in `s2f_tf.report.site.build_report`.
It does not import TensorFlow, so a rebuild takes seconds.
"""

import logging
import sys

from absl import app
from absl import flags

from s2f_tf.report import plots
from s2f_tf.report import site

flags.DEFINE_string("runs", "runs", "Folder of s2f-train workdirs (searched "
                    "3 levels deep).")
flags.DEFINE_string("out", "report", "Where the site goes; updated in place.")
flags.DEFINE_list("plots", ["svg"], "Loss-figure formats, any of "
                  f"{', '.join(plots.FORMATS)}; pdf gives vector figures for "
                  "papers (SVG is added to show on the pages).")
flags.DEFINE_integer("workers", 2, "Processes that draw figures.")
FLAGS = flags.FLAGS


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}; flags only")
  # At INFO, TensorBoard's reader logs every file it finishes and fontTools
  # every font it subsets into a PDF; absl would print all of it.
  for name in ("tensorboard", "fontTools"):
    logging.getLogger(name).setLevel(logging.WARNING)
  try:
    summary = site.build_report(FLAGS.runs, FLAGS.out, FLAGS.plots,
                                FLAGS.workers)
  except (OSError, ValueError) as e:  # Missing --runs, unwritable --out.
    print(f"s2f-report: {e}", file=sys.stderr)
    return 2
  print(f"{summary.runs} runs ({summary.redrawn} redrawn), "
        f"{len(summary.others)} other folders -> {summary.index}")
  return 0


def main():
  app.run(_main)


if __name__ == "__main__":
  main()
