"""The training loop: `run(config, workdir)` is the one library call.

Sections, in the order a step meets them: setup (data, strategy, models,
optimizers, checkpoint), the guarded step calls, logging, samples,
histograms, checkpoints, evaluation. The compiled steps live in `steps.py`;
this file only decides when to call what and what to do with the results.
"""

import contextlib
import dataclasses
import glob
import os
import time
from typing import Dict, Optional

from absl import logging
import keras
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import distribute
from s2f_tf import evaluate as evaluate_lib
from s2f_tf import files
from s2f_tf import hparams
from s2f_tf import numerics
from s2f_tf import preemption
from s2f_tf import precision as precision_lib
from s2f_tf import profiling
from s2f_tf import steps as steps_lib
from s2f_tf import summaries
from s2f_tf import tasks
from s2f_tf.tasks import base


@dataclasses.dataclass
class RunState:
  """Everything a running loop holds; built by `setup`, also used by tests."""

  config: config_lib.Config
  workdir: str
  strategy: tf.distribute.Strategy
  task: base.Task
  dataset: tf.data.Dataset
  generator: keras.Model
  discriminator: keras.Model
  ema_generator: Optional[keras.Model]
  g_opt: keras.optimizers.Optimizer
  d_opt: keras.optimizers.Optimizer
  step: tf.Variable
  checkpoint: tf.train.Checkpoint
  manager: tf.train.CheckpointManager
  steps: steps_lib.TrainSteps
  sample: tf.types.experimental.GenericFunction


def _build_players(config, task):
  """Models and optimizers; call under strategy.scope()."""
  generator, discriminator = task.build_generator(), task.build_discriminator()
  ema_generator = None
  if config.train.ema_beta > 0:
    ema_generator = task.build_generator()
    ema_generator.trainable = False
    ema_generator.set_weights(generator.get_weights())
  optimizers = task.make_optimizers()
  optimizers["g"].build(generator.trainable_variables)
  optimizers["d"].build(discriminator.trainable_variables)
  return generator, discriminator, ema_generator, optimizers


def setup(config: config_lib.Config, workdir: str,
          restore_from: Optional[str] = None) -> RunState:
  """Builds data, models, optimizers and steps, and resumes if possible.

  Resumes from the newest readable checkpoint in `workdir`, or from
  `restore_from` (a checkpoint, or a folder of them) if given. Call inside
  `precision_lib.precision_policy(config.train.precision)`.
  """
  t = config.train
  strategy = distribute.make_strategy(t.strategy)
  keras.utils.set_random_seed(t.seed)
  task = tasks.make_task(config)
  dataset = task.make_dataset()
  with strategy.scope():
    generator, discriminator, ema_generator, optimizers = _build_players(
        config, task)
    g_opt, d_opt = optimizers["g"], optimizers["d"]
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    state = task.build_state()
  distribute.seed_workers_apart(strategy, t.seed)
  checkpoint = checkpointing.make_checkpoint(generator, discriminator, g_opt,
                                             d_opt, step, ema_generator, state)
  manager = checkpointing.make_manager(checkpoint, workdir, t.keep_checkpoints)
  restored = checkpointing.restore_latest(checkpoint, manager, restore_from)
  if t.init_from and restored:
    logging.info("--init_from=%s is not used: resumed from %s", t.init_from,
                 restored)
  elif t.init_from:
    checkpointing.warm_start(t.init_from, {
        "generator": generator, "discriminator": discriminator,
        **({"generator_ema": ema_generator} if ema_generator else {})})
  if restored and not t.lr_decay_steps:
    # The flags win over the restored learning rates: a resumed run with a
    # new --g_lr/--d_lr must train at the new rate. (A schedule is built from
    # the flags and never restored.)
    g_opt.learning_rate.assign(t.g_lr)
    d_opt.learning_rate.assign(t.d_lr)
  dist_dataset = distribute.distribute_dataset(strategy, dataset, t.batch_size)
  train_steps = steps_lib.TrainSteps(config, strategy, task, generator,
                                     discriminator, optimizers,
                                     dist_dataset.element_spec, step,
                                     ema_generator)
  sample = task.make_sampler(ema_generator or generator)
  return RunState(config, workdir, strategy, task, dist_dataset, generator,
                  discriminator, ema_generator, g_opt, d_opt, step,
                  checkpoint, manager, train_steps, sample)


def run(config: config_lib.Config, workdir: str,
        restore_from: Optional[str] = None) -> Dict:
  """Trains (or resumes) the run in `workdir`; returns the final measurements.

  Raises numerics.NumericsError (non-finite values, collapse) or
  numerics.RetraceError; in both cases no checkpoint of the bad state is
  written. SIGTERM and Ctrl-C save a checkpoint at the next step boundary,
  then raise preemption.Stopped. A failed write raises files.WriteError.
  """
  config = tasks.resolve_model(config)  # As from flags, for library callers.
  tasks.validate(config)
  config = precision_lib.resolve_config(config)  # config.json: the real one.
  os.makedirs(workdir, exist_ok=True)
  config_lib.save_config(config, workdir)
  with precision_lib.precision_policy(config.train.precision):
    state = setup(config, workdir, restore_from)
    # After the build (numerics.checking_every_op says why).
    with numerics.checking_every_op(config.train.check_numerics == "full"):
      return Loop(state).run()


class Loop:
  """Calls the steps and everything periodic around them."""

  def __init__(self, state: RunState):
    self.s = state
    t = state.config.train
    self.t = t
    self.chief = distribute.is_chief(state.strategy)
    self.logdir = os.path.join(state.workdir, "train")
    self.writer = (tf.summary.create_file_writer(self.logdir) if self.chief
                   else tf.summary.create_noop_writer())
    self.profiler = profiling.StepProfiler(t.profile_steps, self.logdir)
    self.guard = numerics.GraphGuard()
    self.collapse = numerics.CollapseMonitor(t.collapse_patience,
                                             t.stop_on_collapse)
    self.skipped = 0
    # On the chief only: the other workers would compute the same numbers
    # and throw them away.
    self.evaluates = self.chief
    self.iterator = iter(state.dataset)
    self.saved_step = int(state.step.numpy())  # Restored, so on disk.
    # run()'s signal handling, which the evaluations in _periodic use.
    self._stop: Optional[preemption.Preemption] = None

  def run(self) -> Dict:
    start = int(self.s.step.numpy())
    if self.chief:  # HParams tab: flags now, metrics after each evaluation.
      with self._writing_events():
        hparams.write_hparams(self.s.workdir, self.s.config, step=start)
    if start >= self.t.steps:
      logging.info("Already trained to step %d of %d.", start, self.t.steps)
    progbar = keras.utils.Progbar(self.t.steps, stateful_metrics=[
        "steps/s", "g/total", "d/total"], unit_name="step")
    progbar.update(start)
    tick, tick_step = time.time(), start
    last = {}
    # SIGTERM and Ctrl-C: a checkpoint at the next step boundary, then exit.
    stop = preemption.Preemption(
        self._save, self.t.preemption_grace_s,
        self.s.strategy.cluster_resolver if self.t.strategy == "multiworker"
        else None)
    self._stop = stop
    with stop, self._naming_check_numerics_errors():
      for step in range(start, self.t.steps):
        done = step + 1
        with self.profiler.step(done):
          last = self._train_step(step)
        if done % self.t.log_every == 0 or done == self.t.steps:
          rate = (done - tick_step) / max(time.time() - tick, 1e-9)
          tick, tick_step = time.time(), done
          scalars = self._log(done, last, rate)
          progbar.update(done, [("steps/s", rate),
                                ("g/total", scalars["g/total"]),
                                ("d/total", scalars["d/total"])])
        self._periodic(done)
        stop.check()
      self._save()
      results = {"step": int(self.s.step.numpy()),
                 "skipped_steps": self.skipped,
                 "last": {key: _fetch(out.measurements)
                          for key, out in last.items()}}
      # Every grid of the run, earlier sessions of a resumed run included.
      grids = sorted(glob.glob(os.path.join(self.s.workdir, "samples",
                                            "step_*.png")))
      if grids and self.chief:
        results["progress_gif"] = os.path.join(self.s.workdir,
                                               "progress.gif")
        summaries.write_gif(grids, results["progress_gif"])
      if self.t.eval_at_end and self.evaluates:
        # A signal now ends the evaluation (minutes long) at once; the
        # checkpoint is on disk, and the same command reruns it.
        results["eval"] = stop.interruptible(
            lambda: self._evaluate(int(self.s.step.numpy())))
        if results["eval"] is None:  # Abandoned on a signal: save, stop.
          stop.check()
    with self._writing_events():
      self.writer.flush()
    return results

  # Steps ------------------------------------------------------------------

  @contextlib.contextmanager
  def _naming_check_numerics_errors(self):
    """Under --check_numerics=full, names the op's layer in one message."""
    try:
      yield
    except tf.errors.InvalidArgumentError as e:
      if self.t.check_numerics != "full":
        raise
      paths = self.s.steps.variable_paths()
      raise numerics.explain_check_numerics_error(
          e, int(self.s.step.numpy()), paths["g"] + paths["d"]) from None

  def _call(self, name: str, function, *args):
    """Calls a step; the first call finalizes its graph (warm-up)."""
    try:
      out = function(*args)
    except (TypeError, ValueError) as e:
      if name not in self.guard.functions:
        raise  # Tracing itself failed: the original error is the message.
      raise numerics.RetraceError(
          self.guard.explain_mismatch(name, function, args)) from e
    if name not in self.guard.functions:
      self.guard.watch(name, function)
    return out

  def _train_step(self, step: int) -> Dict[str, steps_lib.StepResult]:
    steps, t = self.s.steps, self.t
    phase = steps.phase(step)
    if phase.shared_pass:  # One batch, one G forward, both.
      name, function = steps.named("shared_step", phase)
      d_out, g_out = self._call(name, function, next(self.iterator))
      self._check(step, "discriminator", d_out, "d", phase)
    else:
      for c in range(t.n_critic):
        name, function = steps.step_for("d", step * t.n_critic + c, phase)
        d_out = self._call(name, function, next(self.iterator))
        self._check(step, "discriminator", d_out, "d", phase)
      name, function = steps.step_for("g", step, phase)
      g_out = self._call(name, function, next(self.iterator))
    self._check(step, "generator", g_out, "g", phase)
    self.s.step.assign_add(1)
    self.s.task.after_step(step, self.s.generator, self.s.discriminator)
    return {"d": d_out, "g": g_out}

  def _check(self, step: int, player: str, out: steps_lib.StepResult,
             key: str, phase) -> None:
    # One scalar copied to the host per step: the price of stopping in the
    # step where a NaN appears. The rest stays put until a log step.
    if float(out.all_finite) >= 1.0:
      return
    ok = numerics.check_finite(
        step, player, finite_terms=_fetch(out.finite_terms),
        finite_grads=out.finite_grads.numpy(),
        values=_fetch(out.measurements), loss_scale=float(out.loss_scale),
        variable_paths=self.s.steps.variable_paths(phase)[key],
        loss_scaled=self.t.precision == "mixed_float16")
    if not ok:
      self.skipped += 1
      with self.writer.as_default(step=step):
        tf.summary.scalar("numerics/skipped_steps", self.skipped)
        tf.summary.scalar(f"numerics/{key}_loss_scale", float(out.loss_scale))
      logging.warning("step %d: %s gradients overflowed under float16; the "
                      "update was skipped and the loss scale is now %g.",
                      step, player, float(out.loss_scale))

  # Periodic work ----------------------------------------------------------

  def _log(self, step: int, last, rate: float) -> Dict[str, float]:
    """Writes the latest measurements; the only place they reach the host."""
    self.guard.check()
    scalars = {}
    for key, out in last.items():
      scalars.update(_fetch(out.measurements))
      scalars[f"{key}/loss_scale"] = float(out.loss_scale)
    scalars["steps_per_second"] = rate
    if self.chief:
      with self._writing_events():
        summaries.write_scalars(self.writer, step, scalars, prefix="train/")
    self.collapse.update(step, {
        label: scalars[name]
        for name, label in self.s.task.collapse_signals().items()})
    return scalars

  def _periodic(self, step: int) -> None:
    t = self.t
    if step % t.image_every == 0 and self.chief:
      self._write_grid(step)
    if t.histogram_every and step % t.histogram_every == 0 and self.chief:
      self._write_histograms(step)
    if t.eval_every and step % t.eval_every == 0 and self.evaluates:
      # Ended at once by a signal: the loop then saves this step and stops.
      self._stop.interruptible(lambda: self._evaluate(step))
    if step % t.checkpoint_every == 0:
      self._save()

  def _sample(self, *inputs):
    """The run's sampler, under the retrace guard. Every evaluation batch
    goes through it, so a signal ends an evaluation here, between batches
    (`Preemption.end_evaluation_if_signalled`)."""
    if self._stop is not None:
      self._stop.end_evaluation_if_signalled()
    return self._call("sample", self.s.sample, *inputs)

  def _write_grid(self, step: int) -> None:
    grid = self.s.task.sample_grid(self._sample)
    with self._writing_events():
      summaries.write_image(self.writer, step, "samples", grid)
    summaries.save_png(grid, os.path.join(self.s.workdir, "samples",
                                          f"step_{step:07d}.png"))

  def _write_histograms(self, step: int) -> None:
    # Under the phase of the iteration just run (`step` counts done ones).
    g_grads, d_grads = self._call(
        *self.s.steps.named("gradients", step - 1), next(self.iterator))
    variables = self.s.steps.variables
    with self._writing_events():
      summaries.write_histograms(self.writer, step, "generator",
                                 variables["g"], g_grads)
      summaries.write_histograms(self.writer, step, "discriminator",
                                 variables["d"], d_grads)

  def _writing_events(self):
    """Only around writes: TF reports a full disk as an OpError too."""
    return files.writing(self.logdir, checkpointing.WRITE_ERRORS)

  def _evaluate(self, step: int) -> Dict:
    return evaluate_lib.evaluate_run(self.s.task, self._sample, step,
                                     self.s.workdir, writer=self.writer)

  def _save(self) -> int:
    """Saves the current step unless it is on disk; returns the step."""
    # Decided from the step alone, so every worker saves at the same steps
    # (see distribute.save_checkpoint).
    step = int(self.s.step.numpy())
    if step != self.saved_step:
      distribute.save_checkpoint(self.s.strategy, self.s.manager, step)
      self.saved_step = step
    return step


def _fetch(tensors: Dict[str, tf.Tensor]) -> Dict[str, float]:
  """Copies scalars to the host (a sync point: only at log time)."""
  return {name: float(value) for name, value in tensors.items()}
