"""GAN objectives, regularisers and reconstruction terms, named as in TF-GAN.

Reduction: every loss first builds a per-example loss [B] (mean over pixels,
patches and discriminator scales), then takes the batch mean as a float32
scalar. Under a `tf.distribute` strategy, `s2f_tf.steps` divides each
replica's total by the replica count once, so the replicas' summed gradients
are the gradient of the global-batch mean.

Discriminator outputs ("logits") may be one tensor [B, ...] or a list over the
scales of a multi-scale discriminator; lists are averaged over scales after
each scale is averaged over its patches, so every scale weighs the same
whatever its size. Inputs are cast to float32 first, as mixed-precision
models hand in float16/bfloat16 features.

GAN_LOSSES maps each `config.GAN_LOSSES` name to its (generator_loss,
discriminator_loss) pair.
"""

import tensorflow as tf


def _scales(x):
  return list(x) if isinstance(x, (list, tuple)) else [x]


def _per_example(fn, *tensors):
  """fn applied elementwise per scale, then a mean per example [B].

  Each argument is a tensor or a list over scales; the i-th scales of all
  arguments go to `fn` together, as float32.
  """
  per_scale = []
  for scale in zip(*map(_scales, tensors)):
    value = fn(*[tf.cast(t, tf.float32) for t in scale])
    value = tf.reshape(value, [tf.shape(value)[0], -1])
    per_scale.append(tf.reduce_mean(value, axis=1))
  return tf.add_n(per_scale) / len(per_scale)


def wasserstein_generator_loss(fake_logits):
  """-D(G(z)). Arjovsky et al. 2017, arXiv:1701.07875."""
  return tf.reduce_mean(_per_example(tf.negative, fake_logits))


def wasserstein_discriminator_loss(real_logits, fake_logits):
  """D(G(z)) - D(x). Arjovsky et al. 2017, arXiv:1701.07875."""
  return tf.reduce_mean(_per_example(lambda r, f: f - r, real_logits, fake_logits))


def hinge_generator_loss(fake_logits):
  """-D(G(z)), as for Wasserstein. Lim & Ye 2017, arXiv:1705.02894."""
  return wasserstein_generator_loss(fake_logits)


def hinge_discriminator_loss(real_logits, fake_logits):
  """relu(1 - D(x)) + relu(1 + D(G(z))). Lim & Ye 2017, arXiv:1705.02894."""
  return tf.reduce_mean(
      _per_example(lambda r, f: tf.nn.relu(1.0 - r) + tf.nn.relu(1.0 + f),
                   real_logits, fake_logits))


def non_saturating_generator_loss(fake_logits):
  """-log sigmoid(D(G(z))). Goodfellow et al. 2014, arXiv:1406.2661.

  The "-log D" trick of the paper, which keeps gradients alive while D
  confidently rejects the fakes; softplus(-l) is -log sigmoid(l), stably.
  """
  return tf.reduce_mean(_per_example(lambda f: tf.nn.softplus(-f), fake_logits))


def non_saturating_discriminator_loss(real_logits, fake_logits):
  """Sigmoid cross-entropy, real -> 1, fake -> 0. Goodfellow et al. 2014."""
  return tf.reduce_mean(
      _per_example(lambda r, f: tf.nn.softplus(-r) + tf.nn.softplus(f),
                   real_logits, fake_logits))


def lsgan_generator_loss(fake_logits):
  """0.5 (D(G(z)) - 1)^2. Mao et al. 2017, arXiv:1611.04076."""
  return tf.reduce_mean(_per_example(lambda f: 0.5 * tf.square(f - 1.0), fake_logits))


def lsgan_discriminator_loss(real_logits, fake_logits):
  """0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2. Mao et al. 2017, arXiv:1611.04076."""
  return tf.reduce_mean(
      _per_example(lambda r, f: 0.5 * tf.square(r - 1.0) + 0.5 * tf.square(f),
                   real_logits, fake_logits))


def _input_gradients(d_fn, x):
  """d(mean logits of example i) / d(x_i), flattened to [B, N], float32.

  Examples do not interact in D, so one gradient of the batch sum gives every
  example's own gradient. The critic value of a PatchGAN is its mean patch
  logit (averaged over scales), the same reduction the losses use.
  """
  with tf.GradientTape() as tape:
    tape.watch(x)
    critic = tf.reduce_sum(_per_example(tf.identity, d_fn(x)))
  grads = tf.cast(tape.gradient(critic, x), tf.float32)
  return tf.reshape(grads, [tf.shape(grads)[0], -1])


def wasserstein_gradient_penalty(critic_fn, real, fake, epsilon=1e-10,
                                 target=1.0, seed=None):
  """(||grad critic(x_hat)|| - target)^2 at random interpolates x_hat.

  Gulrajani et al. 2017 (WGAN-GP), arXiv:1704.00028. One alpha ~ U[0, 1] per
  example. epsilon sits inside the square root, sqrt(sum g^2 + eps), because
  the gradient of the norm is NaN at exactly zero gradient. Call it inside the
  discriminator's GradientTape: the penalty's gradient is a second-order one.
  `critic_fn(images)` returns logits (tensor or list over scales); close
  over the conditioning sketch there.
  """
  real = tf.cast(real, tf.float32)
  fake = tf.cast(fake, tf.float32)
  alpha_shape = [tf.shape(real)[0]] + [1] * (real.shape.rank - 1)
  alpha = tf.random.uniform(alpha_shape, seed=seed)
  grads = _input_gradients(critic_fn, real + alpha * (fake - real))
  norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + epsilon)
  return tf.reduce_mean(tf.square(norm - target))


def _half_squared_gradient_norm(d_fn, images):
  grads = _input_gradients(d_fn, tf.cast(images, tf.float32))
  return tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(grads), axis=1))


def r1_penalty(d_fn, real):
  """0.5 E||grad D(x)||^2 on reals. Mescheder et al. 2018, arXiv:1801.04406.

  The paper's R1 is (gamma / 2) E||grad D(x)||^2: this is R1 at gamma = 1,
  so the caller multiplies by gamma (and by the interval for lazy
  regularisation) and nothing else.
  """
  return _half_squared_gradient_norm(d_fn, real)


def r2_penalty(d_fn, fake):
  """0.5 E||grad D(G(z))||^2 on fakes. Mescheder et al. 2018, arXiv:1801.04406.

  Same scaling convention as `r1_penalty`.
  """
  return _half_squared_gradient_norm(d_fn, fake)


def feature_matching_loss(real_feats, fake_feats):
  """L1 between D's features of real and fake images (pix2pixHD).

  Wang et al. 2018, arXiv:1711.11585. Arguments are nested lists (over scales,
  then layers) of feature maps; the loss is the mean over all maps of each
  map's mean absolute difference. Real features are a fixed target, so no
  gradient flows into them.
  """
  real = tf.nest.flatten(real_feats)
  fake = tf.nest.flatten(fake_feats)
  return tf.reduce_mean(
      _per_example(lambda r, f: tf.abs(f - tf.stop_gradient(r)), real, fake))


def l1_reconstruction_loss(target, generated):
  """Mean |generated - target|. Isola et al. 2017 (pix2pix), arXiv:1611.07004.

  With the paired photo as target it anchors colours and layout, which the
  adversarial terms alone pin down slowly.
  """
  return tf.reduce_mean(_per_example(lambda t, g: tf.abs(g - t), target, generated))


def cycle_loss(real, reconstructed):
  """Mean |F(G(x)) - x|: cycle consistency, L1.

  Zhu et al. 2017 (CycleGAN), arXiv:1703.10593, Eq. 2; U-GAT-IT's cycle
  term (Kim et al. 2020, arXiv:1907.10830, weight 10 in both). Without a
  paired target, the round trip A -> B -> A is what forbids G to map every
  input to the same plausible B image.
  """
  return l1_reconstruction_loss(real, reconstructed)


def identity_loss(real, mapped):
  """Mean |G(y) - y| for y already in G's target domain: identity, L1.

  Taigman et al. 2017, arXiv:1611.02200, as CycleGAN uses it (Zhu et al.
  2017, arXiv:1703.10593, Sec. 5.2, weight 0.5 x the cycle weight) and
  U-GAT-IT (Kim et al. 2020, arXiv:1907.10830, weight 10): it keeps the
  colours of inputs the generator has no reason to change.
  """
  return l1_reconstruction_loss(real, mapped)


def cam_generator_loss(cam_logits):
  """Sigmoid cross-entropy of CAM logits against "1".

  U-GAT-IT's auxiliary CAM classifiers, Kim et al. 2020, arXiv:1907.10830.
  Used twice (see `s2f_tf.models.few_shot` for the mapping): on G's own CAM logits, which
  say "sketch content", and on D's CAM logits of the fakes, which G wants to
  read "real". `cam_logits` is [B, 2] (GAP, GMP) or a list of them over D's
  scales; the two logits and the scales are averaged. This is the
  non-saturating generator loss on the CAM logits: softplus(-l) is the
  cross-entropy of sigmoid(l) against 1.
  """
  return non_saturating_generator_loss(cam_logits)


def cam_discriminator_loss(real_cam, fake_cam):
  """Sigmoid cross-entropy of D's CAM logits: real -> 1, fake -> 0.

  U-GAT-IT, Kim et al. 2020, arXiv:1907.10830, whose discriminator trains its
  CAM logits with the same objective as its main output (least squares
  there); here it is always cross-entropy, so the auxiliary classifier is a
  probability whatever `gan_loss` the main output uses. Arguments as for
  `cam_generator_loss`. It is also U-GAT-IT's CAM loss of the generator,
  whose classifier tells its source domain (1) from its target domain (0);
  `s2f_tf.models.ugatit` maps the paper's terms to these losses.
  """
  return non_saturating_discriminator_loss(real_cam, fake_cam)


def kl_divergence_loss(mu, logvar):
  """KL(N(mu, exp(logvar)) || N(0, I)), summed over the code's dimensions.

  Kingma & Welling 2014, arXiv:1312.6114; SPADE's KLD term for its VAE
  style encoder (Park et al. 2019, arXiv:1903.07291, weight 0.05 there).
  """
  mu, logvar = tf.cast(mu, tf.float32), tf.cast(logvar, tf.float32)
  per_example = -0.5 * tf.reduce_sum(
      1.0 + logvar - tf.square(mu) - tf.exp(logvar), axis=1)
  return tf.reduce_mean(per_example)


# pix2pixHD's and SPADE's weights of relu1_1 ... relu5_1 (deep layers count
# most: they carry the semantics the L1 of pixels cannot see).
PERCEPTUAL_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def perceptual_loss(features_fn, real, fake, weights=PERCEPTUAL_WEIGHTS):
  """sum_i w_i mean|phi_i(fake) - phi_i(real)|: a VGG feature distance.

  Johnson et al. 2016, arXiv:1603.08155, with the L1 distance and layer
  weights of pix2pixHD (Wang et al. 2018, arXiv:1711.11585) and SPADE.
  `features_fn(images)` returns one feature map per weight; the real
  features are a fixed target.
  """
  real_feats = [tf.stop_gradient(f) for f in features_fn(real)]
  fake_feats = features_fn(fake)
  if len(fake_feats) != len(weights):
    raise ValueError(f"features_fn gave {len(fake_feats)} feature maps for "
                     f"{len(weights)} weights")
  per_example = tf.add_n([
      w * _per_example(lambda r, f: tf.abs(f - r), r, f)
      for w, r, f in zip(weights, real_feats, fake_feats)])
  return tf.reduce_mean(per_example)


GAN_LOSSES = {
    "hinge": (hinge_generator_loss, hinge_discriminator_loss),
    "non_saturating": (non_saturating_generator_loss,
                       non_saturating_discriminator_loss),
    "lsgan": (lsgan_generator_loss, lsgan_discriminator_loss),
    "wgan": (wasserstein_generator_loss, wasserstein_discriminator_loss),
    "wgan_gp": (wasserstein_generator_loss, wasserstein_discriminator_loss),
}


def path_lengths(synthesis_fn, ws):
  """(images, ||J_w^T y|| per example [B]) with y ~ N(0, I) / sqrt(H W).

  Karras et al. 2020 (StyleGAN2), arXiv:1912.04958, Sec. 3.2: J_w is the
  Jacobian of the image with respect to the per-layer latents ws [B, L, D];
  the squared length is summed over D and averaged over the L layers, as in
  the authors' code. Scaling y by 1 / sqrt(H W) makes the length independent
  of the resolution. The inner gradient is kept differentiable, so calling
  this inside the generator's tape gives the second-order gradient the
  regulariser needs.
  """
  ws = tf.cast(ws, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(ws)
    images = tf.cast(synthesis_fn(ws), tf.float32)
    shape = tf.shape(images)
    noise = tf.random.normal(shape) * tf.math.rsqrt(
        tf.cast(shape[1] * shape[2], tf.float32))
    projected = tf.reduce_sum(images * noise)
  grads = tape.gradient(projected, ws)
  return images, tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), 2), 1))


class PathLengthPenalty:
  """(||J_w^T y|| - a)^2 with a the running mean of path lengths.

  Karras et al. 2020 (StyleGAN2), arXiv:1912.04958, Sec. 3.2: penalising
  the deviation from the running mean (decay 0.01) asks for a generator
  whose image changes by the same amount for the same step in W, whatever
  the direction: smoother, easier-to-invert generators and better
  perceptual path lengths. `mean` is a float32 scalar variable owned by
  whoever checkpoints it (StyleGAN2's generator keeps it beside w_avg);
  each call updates it in place and, as in the authors' code, the penalty
  also differentiates through this call's update. Like `r1_penalty`, this
  is the penalty at weight 1.
  """

  def __init__(self, mean, decay: float = 0.01):
    self.mean, self.decay = mean, decay

  def __call__(self, lengths):
    lengths = tf.cast(lengths, tf.float32)
    mean = self.mean + self.decay * (tf.reduce_mean(lengths) - self.mean)
    self.mean.assign(tf.stop_gradient(mean))
    return tf.reduce_mean(tf.square(lengths - mean))
