"""The top TensorFlow ops of a `--profile_steps` trace, as a Markdown table.

  s2f-train --flagfile=flags/demo.cfg --workdir=/tmp/prof --steps=12 \
      --profile_steps=11,12 --noeval_at_end
  python tools/profile_ops.py --workdir=/tmp/prof --top=15

Reads the newest `train/plugins/profile/*/*.xplane.pb` (what TensorBoard's
Profile tab shows) and sums, per op type, the time the executor's threads
spent in each op. Ops on the two inter-op threads overlap, so the op total
can exceed the wall time of a step; both are printed.
"""

import collections
import glob
import os

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top
from tensorflow.tsl.profiler.protobuf import xplane_pb2
# pylint: enable=g-import-not-at-top

flags.DEFINE_string("workdir", None, "Run directory of a profiled s2f-train.")
flags.DEFINE_integer("top", 15, "Op types to list.")
flags.DEFINE_string("group", "type", "type: by op type; node: by graph node, "
                    "with its layer scope.")
FLAGS = flags.FLAGS
STEP_EVENT = "train"  # profiling.StepProfiler's per-step trace name.


def load_host_plane(workdir: str) -> xplane_pb2.XPlane:
  pattern = os.path.join(workdir, "train", "plugins", "profile", "*",
                         "*.xplane.pb")
  paths = sorted(glob.glob(pattern))
  if not paths:
    raise FileNotFoundError(f"no trace matches {pattern}; run s2f-train with "
                            "--profile_steps=A,B first")
  space = xplane_pb2.XSpace()
  with open(paths[-1], "rb") as f:
    space.ParseFromString(f.read())
  return next(p for p in space.planes if p.name == "/host:CPU")


def summarize(plane: xplane_pb2.XPlane, group: str):
  """(steps, wall ms of all steps, {key: [ms, calls]}) of the executor ops."""
  names = {i: m.name for i, m in plane.event_metadata.items()}
  steps, wall_ps = 0, 0
  ops = collections.defaultdict(lambda: [0.0, 0])
  for line in plane.lines:
    for event in line.events:
      name = names[event.metadata_id]
      if name == STEP_EVENT:
        steps, wall_ps = steps + 1, wall_ps + event.duration_ps
      elif line.name.startswith("tf_Compute") and ":" in name.replace(
          "::", ""):
        node, op_type = name.rsplit(":", 1)
        key = op_type if group == "type" else f"{node} ({op_type})"
        ops[key][0] += event.duration_ps / 1e9
        ops[key][1] += 1
  return steps, wall_ps / 1e9, ops


def main(argv):
  del argv
  steps, wall_ms, ops = summarize(load_host_plane(FLAGS.workdir), FLAGS.group)
  per_step = max(steps, 1)
  total = sum(ms for ms, _ in ops.values())
  print(f"{steps} profiled steps, {wall_ms / per_step:.1f} ms wall per step "
        f"(D + G), {total / per_step:.1f} ms of op time per step\n")
  print(f"| op {FLAGS.group} | ms per step | share of op time | calls per "
        "step |\n| --- | ---: | ---: | ---: |")
  ranked = sorted(ops.items(), key=lambda item: -item[1][0])
  for key, (ms, calls) in ranked[:FLAGS.top]:
    print(f"| {key} | {ms / per_step:.2f} | {100 * ms / total:.1f}% | "
          f"{calls / per_step:.0f} |")


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
