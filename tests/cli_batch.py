"""Runs several command lines of one s2f command in one process, for
test_cli.py (s2f-train) and test_sample_label2face.py (s2f-sample).

Every start of s2f-train imports TensorFlow, about 5 s of CPU; a command
that stops on its flags (a dry run, a refused value) does little else. So
the tests of such commands run them all in one process, each as a separate
start would see it: flags reset to their defaults, the real `main()` with
its own argv, its own stdout and stderr (the file descriptors, so
TensorFlow's C++ lines and an uncaught traceback are caught too) and the
exit code `main()` ends with.

  python tests/cli_batch.py RESULTS.json [MODULE] < COMMANDS.json

COMMANDS.json maps a name to an argv (without the program); RESULTS.json
maps the same names to {"returncode", "stdout", "stderr"}. MODULE is the
command's module (default s2f_tf.cli.train_main, s2f-train's).
"""

import importlib
import json
import os
import sys
import tempfile
import traceback


TRAIN = "s2f_tf.cli.train_main"
# argv[0] as the installed command sees it (absl's usage lines name it).
PROGRAMS = {TRAIN: "s2f-train", "s2f_tf.cli.sample_main": "s2f-sample"}


def _main_of(module):
  """The command's `main()` with the flags at their defaults again."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  main = importlib.import_module(module).main
  flags.FLAGS.unparse_flags()
  return main


def _exit_code(exit_value) -> int:
  """The status the interpreter would exit with for `sys.exit(value)`."""
  if exit_value is None:
    return 0
  if isinstance(exit_value, int):
    return exit_value
  print(exit_value, file=sys.stderr)
  return 1


def run_one(argv, module=TRAIN):
  """Runs the command of `module` with `argv`; returns {returncode, stdout,
  stderr}."""
  captured = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
  sys.stdout.flush()
  sys.stderr.flush()
  saved = [os.dup(1), os.dup(2)]
  os.dup2(captured[0].fileno(), 1)
  os.dup2(captured[1].fileno(), 2)
  try:
    main = _main_of(module)
    sys.argv = [PROGRAMS[module], *argv]
    try:
      main()
      code = 0
    except SystemExit as e:
      code = _exit_code(e.code)
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()  # As the interpreter prints it, exit 1.
      code = 1
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    for fd in saved:
      os.close(fd)
  texts = []
  for f in captured:
    f.seek(0)
    texts.append(f.read().decode(errors="replace"))
    f.close()
  return {"returncode": code, "stdout": texts[0], "stderr": texts[1]}


def main():
  # Before run_one sets sys.argv.
  results_path, module = sys.argv[1], (sys.argv[2:] or [TRAIN])[0]
  commands = json.load(sys.stdin)
  results = {name: run_one(argv, module) for name, argv in commands.items()}
  with open(results_path, "w") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main()
