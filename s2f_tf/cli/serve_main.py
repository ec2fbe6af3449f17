"""s2f-serve: a local web editor over an exported model (or a run).

This file is intentionally kept short; the model, the API and the page live
in `s2f_tf.serve`.

  s2f-serve --export_dir=exports/s2f/1
  s2f-serve --workdir=runs/demo --port=8081

then open http://127.0.0.1:8080/ and draw: the page shows the editor the
model's inputs call for (a sketch canvas, a label-map brush, reference
photos) and the face after each stroke. It listens on 127.0.0.1 only; with
--host=0.0.0.0 anyone who can reach the port can use the model, with no
authentication (docs/serving.md, "s2f-serve"). Ctrl-C or SIGTERM stops it
once the requests in flight have finished.
"""

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_workdir_flag(required=False)
flags.DEFINE_string("export_dir", None, "SavedModel version folder written "
                    "by s2f-export, e.g. exports/s2f/1.")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on; 0.0.0.0 "
                    "opens the editor to the network, unauthenticated.")
flags.DEFINE_integer("port", 8080, "Port to listen on; 0 takes a free one.",
                     lower_bound=0, upper_bound=65535)
flags.DEFINE_integer("max_refs", 8, "Most reference photos (K) in one "
                     "request.", lower_bound=1)
flags.DEFINE_integer("max_mb", 10, "Largest request body, in MB.",
                     lower_bound=1)
flags.mark_flags_as_mutual_exclusive(["export_dir", "workdir"], required=True)
FLAGS = flags.FLAGS


def _serve() -> int:
  # pylint: disable=g-import-not-at-top
  from s2f_tf.serve import app
  from s2f_tf.serve import model
  from s2f_tf.serve import server
  # pylint: enable=g-import-not-at-top
  served = model.load(FLAGS.export_dir or "", FLAGS.workdir or "",
                      model.Limits(max_refs=FLAGS.max_refs))
  print(f"s2f-serve: model loaded (--task={served.task.config.model.task}, "
        f"signatures {', '.join(served.fns)})", flush=True)
  server.serve(app.make_app(served, FLAGS.max_mb * 1024 * 1024),
               FLAGS.host, FLAGS.port)
  return 0


def main():
  common.main("s2f-serve", _serve)


if __name__ == "__main__":
  main()
