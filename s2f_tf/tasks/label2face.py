"""Label map -> face: SPADE, CLADE, SEAN and pix2pixHD, with few-shot style.

The generator (`models.label2face`) draws the face the target's label map
lays out; with sean (region codes) or use_vae (one code) it takes the
person's look from K other photos of them. A multi-scale PatchGAN sees the
image with the one-hot map concatenated; hinge, feature matching and the
optional VGG and KL terms are SPADE's objective (Park et al. 2019,
arXiv:1903.07291). Terms are named as in SPADE's loss_log.txt (D_real,
D_fake, GAN, GAN_Feat, VGG, KLD, plus L1) so old logs compare directly.

`--model=pix2pixhd` (Wang et al. 2018, arXiv:1711.11585;
`models.pix2pixhd`) draws the face from the label map and its class
boundaries with a global generator and local enhancer; its objective is
pix2pixHD's: LSGAN (or hinge) and feature matching summed over D's scales,
VGG, no L1 by default, and a first phase of --niter_fix_global steps that
trains the local enhancer alone, G1 frozen.
"""

import functools
import os
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from projector import exporter
from s2f_tf import config_families
from s2f_tf import losses
from s2f_tf import pixels
from s2f_tf import summaries
from s2f_tf.data import episodes
from s2f_tf.data import labels as labels_lib
from s2f_tf.data import layout
from s2f_tf.data import points as points_lib
from s2f_tf.data import reader
from s2f_tf.metrics import heldout
from s2f_tf.metrics import label2face as label2face_metrics
from s2f_tf.models import label2face as models
from s2f_tf.models import pix2pixhd
from s2f_tf.models import patchgan
from s2f_tf.models import vgg
from s2f_tf.serving import label2face as serving
from s2f_tf.tasks import base
from s2f_tf.tasks import objective

GRID_ROWS = 4  # Held-out people in the sample grid.
GRID_SEED = 7
SWAP_CLASS = layout.CLASS_ID["hair"]  # The region-swap measure's region.


# Logits a discriminator loss counts as perfect (real, fake): they add 0.
_PERFECT_LOGITS = {"hinge": (1.0, -1.0), "lsgan": (1.0, 0.0)}
# pix2pixHD's feature matching weighs each of a scale's n_layers + 1 maps by
# 4 / (n_layers + 1) and each scale by 1 / num_D: 4 x the mean over all maps
# (`losses.feature_matching_loss`).
PIX2PIXHD_FEATURE_WEIGHT = 4.0


def loss_halves(gan_loss, real_logits, fake_logits):
  """(real, fake) halves of the `gan_loss` D loss, which add up to it: SPADE
  and pix2pixHD log them apart as D_real and D_fake.

  Each half is the loss with the other half judged perfectly (hinge: logits
  -1 on fakes, +1 on reals; LSGAN: 0 and 1), which adds exactly 0.
  """
  real_sure, fake_sure = _PERFECT_LOGITS[gan_loss]
  sure = lambda logits, value: [value * tf.ones_like(l) for l in logits]
  _, d_loss = losses.GAN_LOSSES[gan_loss]
  return (d_loss(real_logits, sure(fake_logits, fake_sure)),
          d_loss(sure(real_logits, real_sure), fake_logits))


def hinge_halves(real_logits, fake_logits):
  """`loss_halves` of the hinge loss (SPADE, CLADE, SEAN)."""
  return loss_halves("hinge", real_logits, fake_logits)


class Label2FaceTask(base.Task):
  """CelebAMask-HQ label map (+ K photos of the person) -> face."""

  CONFIG = config_families.Label2FaceConfig
  MODELS = ("label2face", "pix2pixhd")
  EMBEDDINGS = ("regions",)
  MEASURES = label2face_metrics.MEASURES

  def __init__(self, config):
    super().__init__(config)
    self._vgg = None  # VGG19 features, loaded with D when --lambda_vgg > 0.

  @property
  def _pix2pixhd(self) -> bool:
    return self.config.model.model == "pix2pixhd"

  @property
  def _reads_sketch(self) -> bool:
    """G and D read the target's sketch (pix2pixHD --edge_source=sketch)."""
    return self._pix2pixhd and pix2pixhd.reads_sketch(self.config.family)

  def _sketch(self, source) -> Dict[str, tf.Tensor]:
    """{"sketch": the target's} from a batch or sampler inputs when G and D
    read it, else {}: other models' `generate` takes no sketch."""
    return {"sketch": source["sketch"]} if self._reads_sketch else {}

  @classmethod
  def validate(cls, config) -> None:
    super().validate(config)
    d, f, t = config.data, config.family, config.train
    if config.model.model == "pix2pixhd":
      cls._validate_pix2pixhd(config)
      return
    models.check(f, d.image_size)
    if f.label_feat or f.niter_fix_global or f.edge_source == "sketch":
      raise ValueError("--label_feat, --niter_fix_global and --edge_source="
                       "sketch are pix2pixHD's: add --model=pix2pixhd")
    if t.gan_loss != "hinge":
      raise ValueError(f"--task=label2face trains with --gan_loss=hinge "
                       f"(SPADE, CLADE and SEAN), got {t.gan_loss!r}")
    cls._check_label_nc_and_vgg(f)
    if f.add_dist and f.norm_mode != "clade":
      raise ValueError("--add_dist (ICLADE) is for --norm_mode=clade")
    if f.use_vae and f.norm_mode == "sean":
      raise ValueError("--use_vae is for spade and clade; sean takes its "
                       "style from region codes")

  @classmethod
  def _validate_pix2pixhd(cls, config) -> None:
    f, t = config.family, config.train
    pix2pixhd.check(f, config.data.image_size)
    if t.gan_loss not in _PERFECT_LOGITS:
      raise ValueError(f"--model=pix2pixhd trains with --gan_loss=lsgan (the "
                       f"paper's) or hinge, got {t.gan_loss!r}")
    cls._check_label_nc_and_vgg(f)
    if f.niter_fix_global and not f.n_local_enhancers:
      raise ValueError("--niter_fix_global freezes G1 while the local "
                       "enhancer trains: it needs --n_local_enhancers >= 1")
    if not 0 <= f.niter_fix_global < t.steps:
      raise ValueError(f"--niter_fix_global={f.niter_fix_global} must be in "
                       f"[0, --steps={t.steps})")
    if f.niter_fix_global and t.shared_generator_pass:
      raise ValueError("--niter_fix_global has phases of its own; drop "
                       "--shared_generator_pass")
    if f.norm_mode == "sean" or f.use_vae:
      raise ValueError("--model=pix2pixhd takes no style references: drop "
                       "--norm_mode=sean / --use_vae")

  @classmethod
  def _check_label_nc_and_vgg(cls, f) -> None:
    if not 1 <= f.label_nc <= layout.NUM_CLASSES:
      raise ValueError(f"--label_nc={f.label_nc} must be in [1, "
                       f"{layout.NUM_CLASSES}] (CelebAMask-HQ's classes)")
    if f.lambda_vgg > 0 and not os.path.isfile(f.vgg_weights):
      raise ValueError(
          f"--lambda_vgg={f.lambda_vgg} needs --vgg_weights=PATH, a Keras "
          f"VGG19(include_top=False) weights file; {f.vgg_weights!r} is not "
          "a file (or pass --lambda_vgg=0)")

  def phases(self) -> Tuple[base.Phase, ...]:
    """pix2pixHD's coarse-to-fine: --niter_fix_global steps train the local
    enhancer alone (G1's variables frozen), then everything."""
    fix = self.config.family.niter_fix_global if self._pix2pixhd else 0
    if not fix:
      return super().phases()
    return (base.Phase("fix_global", 0, fix,
                       frozen=(pix2pixhd.GLOBAL_PREFIX,)),
            base.Phase("train", fix, self.config.train.steps))

  @classmethod
  def measures(cls, config):
    """region_swap only with region codes (--norm_mode=sean)."""
    return {name: about for name, about in cls.MEASURES.items()
            if name != "region_swap" or config.family.norm_mode == "sean"}

  @functools.cached_property
  def _splits(self) -> Tuple[reader.FaceSet, reader.FaceSet]:
    splits = reader.load_splits(self.config.data)
    root = self.config.data.root
    for part in splits:
      labels_lib.check_class_ids(
          part.masks, self.config.family.label_nc,
          [layout.mask_path(root, int(i), "*") for i in part.image_ids])
    return splits

  def training_split(self) -> reader.FaceSet:
    """The training photos and maps (pix2pixHD's feature clustering)."""
    return self._splits[0]

  def make_dataset(self) -> tf.data.Dataset:
    t = self.config.train
    return episodes.make_episode_dataset(
        self._splits[0], t.batch_size, self.config.data.k_refs, shuffle=True,
        flip=self.config.data.flip, repeat=True, seed=t.seed)

  def build_generator(self):
    d = self.config.data
    if self._pix2pixhd:
      return pix2pixhd.build_generator(self.config.family, d.image_size,
                                       self.config.model.base_channels,
                                       d.k_refs)
    return models.build_generator(self.config.family, d.image_size,
                                  self.config.model.base_channels, d.k_refs)

  def build_discriminator(self):
    """D, and the VGG judge when --lambda_vgg > 0 (same scope, loaded once)."""
    if self.config.family.lambda_vgg > 0:
      self._vgg = vgg.load_features(self.config.family.vgg_weights)
    if self._pix2pixhd:  # D sees what G sees: the map and its edges.
      return patchgan.build_discriminator(
          self.config.family, self.config.data.image_size,
          pix2pixhd.condition_channels(self.config.family))
    return models.build_discriminator(self.config.family,
                                      self.config.data.image_size)

  def _condition(self, labels, source):
    """D's conditioning map: one-hot, with pix2pixHD its boundary channel
    (the map's edges, or the sketch in `source`, a batch or inputs)."""
    if self._pix2pixhd:
      return pix2pixhd.condition(labels, self.config.family,
                                 **self._sketch(source))
    return models.one_hot(labels, self.config.family.label_nc)

  def dummy_forwards(self, generator, discriminator):
    size, k = self.config.data.image_size, self.config.data.k_refs
    inputs = models.dummy_inputs(size, k_refs=k)
    labels = self._condition(inputs["labels"], inputs)
    return (lambda: generator(inputs),
            lambda: discriminator((tf.zeros([1, size, size, 3]), labels)))

  def _inputs(self, batch):
    """The generator's training inputs. pix2pixHD's feature encoder reads
    the target photo itself (the paper's training), as the one reference."""
    if self._pix2pixhd and self.config.family.label_feat:
      return {"labels": batch["mask"], "refs": batch["photo"][:, None],
              "ref_labels": batch["mask"][:, None]}
    return {"labels": batch["mask"], "refs": batch["refs"],
            "ref_labels": batch["ref_mask"]}

  def generator_pass(self, generator, batch):
    """{"fake", "style"}: one forward pass (with --use_vae one sample of
    the style code) for both players' terms."""
    style = generator.encode_style(self._inputs(batch), training=True)
    return {"fake": generator.generate(batch["mask"], style, training=True,
                                       **self._sketch(batch)),
            "style": style}

  def d_terms(self, generator, discriminator, batch, context):
    labels = self._condition(batch["mask"], batch)
    generated = context.generated
    if generated is None:
      generated = self.generator_pass(generator, batch)
    fake = tf.stop_gradient(generated["fake"])
    d = lambda image: patchgan.logits(
        discriminator(self.augment((image, labels)), training=True))
    real_logits, fake_logits = d(batch["photo"]), d(fake)
    terms = objective.discriminator_terms(
        self.config, d, batch["photo"], fake, context.regularize,
        (real_logits, fake_logits), self.observe_real)
    del terms["adv"]  # Split as in SPADE's log: each half on its own.
    terms["D_real"], terms["D_fake"] = loss_halves(
        self.config.train.gan_loss, real_logits, fake_logits)
    return base.LossTerms(terms, watched={"generator_output": fake})

  def g_terms(self, generator, discriminator, batch, context):
    # No lazy generator regulariser.
    f, photo = self.config.family, batch["photo"]
    labels = self._condition(batch["mask"], batch)
    generated = context.generated
    if generated is None:
      generated = self.generator_pass(generator, batch)
    fake, style = generated["fake"], generated["style"]
    # D in inference mode: the G step must not move spectral norm's u.
    # Fake and real move alike: feature matching compares them.
    fake_in, real_in = self.augment_alike((fake, labels), (photo, labels))
    fake_out = discriminator(fake_in, training=False)
    real_out = discriminator(real_in, training=False)
    g_loss, _ = losses.GAN_LOSSES[self.config.train.gan_loss]
    fm_weight, gan_weight = f.lambda_fm, 1.0
    if self._pix2pixhd:
      # pix2pixHD sums the GAN criterion over D's scales, and its LSGAN is
      # the plain squared error (`losses.lsgan_generator_loss` halves it).
      fm_weight *= PIX2PIXHD_FEATURE_WEIGHT
      gan_weight = f.num_d * (2.0 if self.config.train.gan_loss == "lsgan"
                              else 1.0)
    terms = {"GAN": gan_weight * g_loss(patchgan.logits(fake_out)),
             "GAN_Feat": fm_weight * losses.feature_matching_loss(
                 patchgan.features(real_out), patchgan.features(fake_out))}
    if f.lambda_l1 > 0:
      terms["L1"] = f.lambda_l1 * losses.l1_reconstruction_loss(photo, fake)
    if f.lambda_vgg > 0:
      terms["VGG"] = f.lambda_vgg * losses.perceptual_loss(self._vgg, photo,
                                                           fake)
    if "mu" in style:
      terms["KLD"] = f.lambda_kld * losses.kl_divergence_loss(
          style["mu"], style["logvar"])
    stats = {"output_std": base.output_std(fake)}
    watched = {"generator_output": fake}
    if "style" in style:
      stats["region_code_std"] = base.output_std(style["style"])
      watched["region_codes"] = style["style"]
    return base.LossTerms(terms, stats, watched)

  def collapse_signals(self) -> Dict[str, str]:
    signals = super().collapse_signals()
    if self.config.family.norm_mode == "sean":
      signals["g/region_code_std"] = "region style codes"
    return signals

  def make_sampler(self, generator):
    """{labels, refs, ref_labels, donor_refs, donor_ref_labels, swap} ->
    images. Regions marked in `swap` [B, L] take their code from the donor
    references (sean); batch and K are dynamic, traced once."""
    size, nc = self.config.data.image_size, self.config.family.label_nc
    labels = lambda rank: tf.TensorSpec([None] * (rank - 2) + [size, size],
                                        tf.int32)
    refs = tf.TensorSpec([None, None, size, size, 3])
    spec = {"labels": labels(3), "refs": refs, "ref_labels": labels(4),
            "donor_refs": refs, "donor_ref_labels": labels(4),
            "swap": tf.TensorSpec([None, nc])}
    if self._reads_sketch:
      spec["sketch"] = tf.TensorSpec([None, size, size, 1])

    def sample(inputs):
      style = generator.encode_style(inputs, training=False)
      if "style" in style:
        donor = generator.encode_style(
            {"refs": inputs["donor_refs"],
             "ref_labels": inputs["donor_ref_labels"]}, training=False)
        swap = inputs["swap"][..., None]
        for key in ("style", "present"):
          mix = swap[..., 0] if key == "present" else swap
          style[key] = mix * donor[key] + (1.0 - mix) * style[key]
      return generator.generate(inputs["labels"], style, training=False,
                                **self._sketch(inputs))

    return tf.function(sample, input_signature=[spec], autograph=False)

  def _generate(self, sample):
    """numpy generate(labels, refs, ref_labels, donors..., swap, sketch=)
    for metrics; the targets' `sketch` is read only by a model that reads
    one."""
    def generate(labels, refs, ref_labels, donor_refs=None,
                 donor_ref_labels=None, swap=None, sketch=None):
      swap = (np.zeros((len(labels), self.config.family.label_nc), np.float32)
              if swap is None else swap)
      inputs = {"labels": labels, "refs": refs, "ref_labels": ref_labels,
                "donor_refs": refs if donor_refs is None else donor_refs,
                "donor_ref_labels": (ref_labels if donor_ref_labels is None
                                     else donor_ref_labels), "swap": swap,
                **self._sketch({"sketch": sketch})}
      return np.asarray(base.sampled_image(
          sample({k: tf.constant(v) for k, v in inputs.items()})))
    return generate

  @functools.cached_property
  def _grid_episodes(self) -> Dict[str, np.ndarray]:
    """GRID_ROWS held-out episodes, each of a different person."""
    ds = episodes.make_episode_dataset(
        self._splits[1], 4 * GRID_ROWS, self.config.data.k_refs,
        shuffle=True, flip=False, repeat=True, seed=GRID_SEED)
    batch = {k: v.numpy() for k, v in next(iter(ds)).items()}
    _, first = np.unique(batch["identity"], return_index=True)
    return {k: v[np.sort(first)[:GRID_ROWS]] for k, v in batch.items()}

  def sample_grid(self, sample) -> np.ndarray:
    """Rows: label map (colours) | references | output | target."""
    e = self._grid_episodes
    output = self._generate(sample)(e["mask"], e["refs"], e["ref_mask"],
                                    sketch=e["sketch"])
    return summaries.episode_grid(
        pixels.to_unit(labels_lib.colourize(e["mask"])), e["refs"], output,
        e["photo"])

  def evaluate(self, sample, max_examples, names):
    swap = SWAP_CLASS if "region_swap" in names else None
    return label2face_metrics.select(label2face_metrics.heldout_metrics(
        self._generate(sample), self._splits[1],
        heldout.mean_photo(self._splits[0]),
        self.config.train.batch_size, self.config.data.k_refs, max_examples,
        self.config.family.label_nc, swap_class=swap,
        class_colour="class_colour" in names), names)

  def eval_streams(self, sample, count, batch_size
                   ) -> Dict[str, base.Stream]:
    return {base.DEFAULT_STREAM: self._eval_batches(sample, count,
                                                    batch_size)}

  def _eval_batches(self, sample, count, batch_size) -> base.Stream:
    """Held-out targets and the model's faces of their label maps."""
    ds = episodes.make_episode_dataset(
        self._splits[1], batch_size, self.config.data.k_refs, shuffle=True,
        flip=False, repeat=True, seed=heldout.EVAL_SEED)
    generate, done = self._generate(sample), 0
    for batch in ds:
      if done >= count:
        return
      b = {k: v.numpy()[:count - done] for k, v in batch.items()}
      output = generate(b["mask"], b["refs"], b["ref_mask"],
                        sketch=b["sketch"])
      yield pixels.to_uint8(b["photo"]), pixels.to_uint8(output)
      done += len(output)

  def export_module(self, generator):
    return serving.Label2FaceExport(generator, self.config.data.k_refs)

  def embeddings(self, generator, split: str, max_points: int,
                 features: Sequence[str]) -> Dict[str, base.Embedding]:
    """regions: one point per (photo, region it shows), its SEAN code or
    pix2pixHD's region features (--label_feat), with its "region" name."""
    f = self.config.family
    if not (f.label_feat if self._pix2pixhd else f.norm_mode == "sean"):
      raise ValueError("--features=regions needs region codes: a "
                       "--norm_mode=sean run or a --model=pix2pixhd "
                       "--label_feat one")
    if self._pix2pixhd and f.feat_num < exporter.MIN_DIMS:
      raise ValueError(f"--features=regions: this run's region features "
                       f"have --feat_num={f.feat_num} values, and the "
                       f"projector's PCA and t-SNE need at least "
                       f"{exporter.MIN_DIMS}; train with --feat_num="
                       f"{exporter.MIN_DIMS} or more to project them")
    del features  # "regions" is the only one.
    points = points_lib.select_points(*self._splits, split,
                                      max_points)
    masks = _masks_of(self._splits, points.image_ids)
    codes, present = [], []
    for start in range(0, len(masks), points_lib.BATCH_SIZE):
      stop = start + points_lib.BATCH_SIZE
      c, p = generator.encode_regions_per_image(
          pixels.to_unit(points.photos[start:stop]), masks[start:stop])
      codes.append(c.numpy())
      present.append(p.numpy() > 0)
    codes, present = np.concatenate(codes), np.concatenate(present)
    photo, region = np.nonzero(present)
    metadata = {name: values[photo]
                for name, values in points.metadata().items()}
    metadata["region"] = np.array(layout.CLASS_NAMES)[region]
    return {"regions": base.Embedding(codes[photo, region], metadata,
                                      points.photos[photo])}

  # Serving from files -------------------------------------------------------

  def serving_inputs(self, signature="serving_default"):
    return serving.input_files(signature, self.config.family,
                               self.config.data.sketch_method)

  def load_serving_inputs(self, files, signature="serving_default"):
    """Each reference photo is read under its own map (`serving.load_files`)."""
    return serving.load_files(self.serving_inputs(signature), files,
                              self.config.model.task, signature,
                              self.config.data.image_size,
                              self.config.family.label_nc)


def _masks_of(splits, image_ids: np.ndarray) -> np.ndarray:
  """The label maps of the photos `image_ids`, from either split."""
  ids = np.concatenate([s.image_ids for s in splits])
  masks = np.concatenate([s.masks for s in splits])
  row = {int(i): r for r, i in enumerate(ids)}
  return masks[[row[int(i)] for i in image_ids]]
