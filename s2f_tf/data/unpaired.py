"""Unpaired batches of two domains as a tf.data pipeline.

U-GAT-IT (Kim et al. 2020, arXiv:1907.10830) and CycleGAN (Zhu et al. 2017,
arXiv:1703.10593) train on an image of A and an unrelated image of B per
step. Each domain here is its own index stream, shuffled with its own seed
and reshuffled every epoch, so the two never fall into step even when the
domains have the same size.

Where the set names people (`unpaired.json`), a B row whose person is also
in the batch's A half is redrawn among B rows of other people: a batch never
shows the model one person in both domains. The synthetic set keeps every
person in one split anyway; this guards sets that do not.

As in `folder`, images are decoded once (`domains.load_domain`) and held
in memory as uint8; a batch is two in-graph gathers.
"""

from absl import logging
import numpy as np
import tensorflow as tf

from s2f_tf import pixels
from s2f_tf.data import domains


def _shares_people(a: domains.Domain, b: domains.Domain,
                   batch_size: int) -> bool:
  """Whether some person is in both domains, so B rows must be redrawn.

  Raises:
    domains.UnpairedDataError: an A batch could hold every person of B,
      leaving no B row to draw.
  """
  known = a.identities[a.identities != domains.UNKNOWN]
  shared = np.intersect1d(known, b.identities)
  if not len(shared):
    return False
  b_people = np.unique(b.identities)
  if np.isin(b.identities, shared).all() and len(b_people) <= batch_size:
    raise domains.UnpairedDataError(
        f"every person of {b.folder} is also in {a.folder} and one batch of "
        f"{batch_size} can hold all {len(b_people)} of them, leaving no B "
        "image of another person: add B images of other people or lower "
        "batch_size")
  logging.info("%s and %s share %d people: B images of a person in the "
               "batch's A half are redrawn", a.folder, b.folder, len(shared))
  return True


def _redraw_shared(rows_a, rows_b, people_a, people_b, seed, step):
  """rows_b with every row whose person is in the A half redrawn.

  The replacement is uniform over the B rows of people not in this A half,
  from a stateless draw keyed by (seed, step): the same batches every run.
  """
  in_a = tf.gather(people_a, rows_a)  # [B]
  known = in_a != domains.UNKNOWN
  clash = tf.reduce_any(
      (tf.gather(people_b, rows_b)[:, None] == in_a[None, :]) &
      known[None, :], axis=1)
  allowed = tf.reduce_all(
      (people_b[:, None] != in_a[None, :]) | ~known[None, :], axis=1)
  logits = tf.where(allowed, 0.0, float("-inf"))[None, :]
  draws = tf.random.stateless_categorical(
      tf.repeat(logits, tf.size(rows_b), axis=0), 1,
      seed=tf.stack([tf.cast(seed, tf.int64), step]))[:, 0]
  return tf.where(clash, draws, rows_b)


def make_unpaired_dataset(a: domains.Domain, b: domains.Domain,
                          batch_size: int, *,
                          seed: int = 0) -> tf.data.Dataset:
  """Endless batches {"a": float32 [B, S, S, 3], "b": ...} in [-1, 1].

  Every image of a domain appears once per epoch of that domain (a last
  partial batch continues into the next epoch, so every batch is full).

  Raises:
    ValueError: batch_size < 1, or (UnpairedDataError) the domains share
      people so that a batch could not avoid them.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  redraw = _shares_people(a, b, batch_size)
  streams = tuple(
      tf.data.Dataset.range(len(d)).shuffle(
          len(d), seed=2 * seed + i, reshuffle_each_iteration=True)
      .repeat().batch(batch_size, drop_remainder=True)
      for i, d in enumerate((a, b)))
  # One copy of each domain in TF memory, captured as a constant.
  images_a, images_b = tf.constant(a.images), tf.constant(b.images)
  people_a, people_b = tf.constant(a.identities), tf.constant(b.identities)

  def to_batch(step, rows):
    rows_a, rows_b = rows
    if redraw:
      rows_b = _redraw_shared(rows_a, rows_b, people_a, people_b, seed, step)
    return {"a": pixels.to_unit(tf.gather(images_a, rows_a)),
            "b": pixels.to_unit(tf.gather(images_b, rows_b))}

  return (tf.data.Dataset.zip(streams).enumerate()
          # Plain graph code: autograph would only re-parse its source.
          .map(tf.autograph.experimental.do_not_convert(to_batch),
               num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=True)
          .prefetch(tf.data.AUTOTUNE))


def load_train_dataset(root: str, image_size: int, batch_size: int, *,
                       seed: int = 0, workers: int = 2) -> tf.data.Dataset:
  """`make_unpaired_dataset` of `root/trainA` and `root/trainB`.

  Raises:
    domains.UnpairedDataError: a missing, empty or unreadable domain, or
      domains that share every person.
  """
  a, b = (domains.load_domain(root, split, image_size, workers)
          for split in ("trainA", "trainB"))
  return make_unpaired_dataset(a, b, batch_size, seed=seed)
