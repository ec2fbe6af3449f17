"""pix2pixHD's coarse-to-fine generator: global generator + local enhancer.

Wang et al. 2018, arXiv:1711.11585 (NVIDIA/pix2pixHD), for CelebAMask-HQ's
"mask_edge2face": a face drawn from its parsing mask plus the mask's edges.

- **Global generator G1**: Johnson et al.'s ResNet generator
  (arXiv:1603.08155): a 7x7 conv, `n_downsample_global` stride-2 convs,
  `n_blocks_global` residual blocks, as many stride-2 transposed convs,
  instance norm, ReLU; on its own (`n_local_enhancers=0`) a 7x7 conv and
  tanh end it.
- **Local enhancer G2** (`n_local_enhancers=1`): a front end at full
  resolution (7x7 conv, one stride-2 conv) whose features are *added* to
  G1's last feature map, G1 running on the input average-pooled by 2
  (`downsample`, the paper's code's pooling); then its own
  `n_blocks_local` residual blocks, one transposed conv and the 7x7 conv to
  RGB with tanh. G1 is `ngf * 2**n_local_enhancers` wide, G2 `ngf`, so a G1
  trained alone at half resolution with `--base_channels=2 ngf` warm-starts
  the full model: G1's variables keep their paths (`generator/global/...`)
  either way, and the coarse-to-fine phase freezes exactly that prefix.

**Feature encoder** (`label_feat`): an encoder-decoder E (4 stride-2 convs
and 4 transposed convs, `nef` wide, tanh to `feat_num` maps) reads a photo;
its output is averaged inside each class region of that photo's map
(`semantic_norm.region_average`, pix2pixHD's instance-wise pooling with the
parsing classes as instances, CelebAMask-HQ having no instance maps) and
painted back over the target map as `feat_num` more input channels. In
training E reads the target photo itself (the paper's); at inference the
region features come from reference photos of the person (averaged over the
K that show a region) or from k-means centres of the training set's
(`tools/cluster_features.py`), one choice per class: multimodal editing.

The input is the one-hot label map with, by default, a boundary channel:
`mask_edges` marks every pixel whose class differs from a 4-neighbour's,
the edge map pix2pixHD computes from instance maps (`get_edges`), here from
the parsing mask whose component boundaries CelebAMask-HQ's recipe feeds.
`sketch` makes the channel the ink of the target photo's XDoG sketch (the
drawing sketch2face reads, `--sketch_method`): a drawn boundary map with
the strands, wrinkles and lids a parsing mask has no class for. `instance`
is not built: `get_edges` only asks whether a 4-neighbour's id differs, and
CelebAMask-HQ has no instance maps; the one a face could have (each class
one instance, or each connected component of a class one) changes id where
the class changes, and nowhere else, so its edges are `mask_edges`.

Biases before instance norm are dropped (the norm subtracts them; the paper's
code keeps them as dead weights); otherwise the layers are the paper's.
The generator speaks the label-map family's interface (`encode_style`,
`generate`), so the label2face task's sampler, metrics and export serve it.
"""

from typing import Dict

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import blocks
from s2f_tf.layers import semantic_norm
from s2f_tf.models import label2face

EDGE_SOURCES = ("mask_edges", "sketch", "none")
GLOBAL_PREFIX = "generator/global/"  # G1's variables: the frozen phase's.
ENCODER_DOWNSAMPLE = 4  # pix2pixHD's Encoder(n_downsampling=4).


def mask_edges(labels):
  """Class ids [B, H, W] -> float32 [B, H, W, 1]: 1 where any 4-neighbour
  has another class (both pixels of each differing pair), else 0.

  pix2pixHD's `get_edges`, on the parsing mask instead of an instance map.
  """
  t = ops.cast(labels, "int32")
  horizontal = ops.not_equal(t[:, :, 1:], t[:, :, :-1])
  vertical = ops.not_equal(t[:, 1:, :], t[:, :-1, :])
  pad = lambda x, paddings: ops.pad(ops.cast(x, "float32"), paddings)
  edges = ops.maximum(
      ops.maximum(pad(horizontal, [(0, 0), (0, 0), (1, 0)]),
                  pad(horizontal, [(0, 0), (0, 0), (0, 1)])),
      ops.maximum(pad(vertical, [(0, 0), (1, 0), (0, 0)]),
                  pad(vertical, [(0, 0), (0, 1), (0, 0)])))
  return edges[..., None]


def downsample(x):
  """3x3 stride-2 average over the window's pixels inside the map: pix2pixHD's
  AvgPool2d(3, stride=2, padding=1, count_include_pad=False).

  Keras' "same" pooling pads an even map after it only, so its windows sit
  one pixel off pix2pixHD's; here both sides get one pixel, which the mean
  leaves out.
  """
  pad = lambda t: ops.pad(t, [(0, 0), (1, 1), (1, 1), (0, 0)])
  pool = lambda t: ops.average_pool(pad(t), 3, strides=2, padding="valid")
  inside = pool(ops.ones_like(x[..., :1]))
  return pool(x) / inside


def sketch_ink(sketch):
  """Sketch [B, H, W, 1] in [-1, 1] (white paper, dark lines) -> float32 ink
  in [0, 1]: 1 on a line, 0 on paper, as `mask_edges` marks a boundary."""
  return (1.0 - ops.cast(sketch, "float32")) / 2.0


def condition(labels, family_config, sketch=None):
  """The generator's and D's conditioning: one-hot [B, H, W, L] plus the
  boundary channel unless --edge_source=none: the map's edges, or with
  --edge_source=sketch the ink of `sketch` [B, H, W, 1] (the target's)."""
  one_hot = label2face.one_hot(labels, family_config.label_nc)
  if family_config.edge_source == "none":
    return one_hot
  if family_config.edge_source == "sketch":
    if sketch is None:
      raise ValueError("--edge_source=sketch: this model's boundary channel "
                       "is the face's sketch; pass the sketch with the map")
    edges = sketch_ink(sketch)
  else:
    edges = mask_edges(labels)
  return ops.concatenate([one_hot, edges], axis=-1)


def reads_sketch(family_config) -> bool:
  """Whether G and D read the target's sketch beside its label map."""
  return family_config.edge_source == "sketch"


def condition_channels(family_config) -> int:
  return family_config.label_nc + (family_config.edge_source != "none")


def check(family_config, image_size: int) -> None:
  """Fails early, with the fix, on sizes the generator cannot honour."""
  f = family_config
  if f.edge_source == "instance":
    raise ValueError(
        "--edge_source=instance: CelebAMask-HQ has no instance maps, and "
        "pix2pixHD's get_edges of one a face could have (a class or its "
        "connected components per instance) equals --edge_source="
        "mask_edges; use mask_edges, or sketch for drawn boundaries")
  if f.edge_source not in EDGE_SOURCES:
    raise ValueError(f"--edge_source={f.edge_source!r} is not built; use one "
                     f"of {', '.join(EDGE_SOURCES)}")
  for name in ("n_downsample_global", "n_blocks_global", "n_local_enhancers",
               "n_blocks_local"):
    if getattr(f, name) < 0:
      raise ValueError(f"--{name}={getattr(f, name)} must be >= 0")
  if f.label_feat:
    for name, value in (("feat_num", f.feat_num), ("nef", f.nef)):
      if value < 1:
        raise ValueError(f"--{name}={value} must be >= 1 with --label_feat")
    if image_size % 2**ENCODER_DOWNSAMPLE:
      raise ValueError(f"--label_feat: the feature encoder halves the image "
                       f"{ENCODER_DOWNSAMPLE} times; --image_size="
                       f"{image_size} must be a multiple of "
                       f"{2**ENCODER_DOWNSAMPLE}")
  factor = 2**(f.n_downsample_global + f.n_local_enhancers)
  if image_size % factor or image_size < 2 * factor:
    raise ValueError(
        f"--image_size={image_size} must be a multiple of 2**"
        f"(n_downsample_global + n_local_enhancers) = {factor} and at least "
        f"{2 * factor}; lower --n_downsample_global or raise --image_size")


def _to_rgb(name):
  return keras.Sequential([
      blocks.ReflectConv2D(3, 7, name="conv"),
      keras.layers.Activation("tanh", dtype="float32", name="tanh")],
                          name=name)


@keras.saving.register_keras_serializable(package="s2f_tf")
class Pix2PixHDGenerator(keras.Model):
  """labels [B, S, S] -> face float32 [B, S, S, 3] in [-1, 1]."""

  def __init__(self, family_config, image_size, base_channels, **kwargs):
    super().__init__(**kwargs)
    check(family_config, image_size)
    f = self.family_config = family_config
    self.image_size, self.base_channels = image_size, base_channels
    self.enhancers = f.n_local_enhancers
    global_channels = base_channels * 2**self.enhancers
    self.global_net = keras.Sequential(
        blocks.resnet_body(global_channels, f.n_downsample_global,
                           f.n_blocks_global), name="global")
    self.local_front, self.local_back = [], []
    for n in range(1, self.enhancers + 1):
      ch = base_channels * 2**(self.enhancers - n)
      self.local_front.append(keras.Sequential(
          blocks.conv_norm_relu(ch, 7, 1, "conv_in", use_bias=False)
          + blocks.conv_norm_relu(2 * ch, 3, 2, "down", use_bias=False),
          name=f"local_{n}_front"))
      self.local_back.append(keras.Sequential(
          [blocks.ResBlock(2 * ch, use_bias=False, name=f"res_{i}")
           for i in range(f.n_blocks_local)]
          + blocks.transposed_conv_norm_relu(ch, "up"),
          name=f"local_{n}_back"))
    self.to_rgb = _to_rgb("to_rgb" if self.enhancers == 0 else
                          f"local_{self.enhancers}_to_rgb")
    self.feature_encoder = None
    if f.label_feat:
      self.feature_encoder = keras.Sequential(
          blocks.resnet_body(f.nef, ENCODER_DOWNSAMPLE, 0) + [
              blocks.ReflectConv2D(f.feat_num, 7, activation="tanh",
                                   dtype="float32", name="conv_out")],
          name="feature_encoder")

  def encode_regions_per_image(self, photos, labels, training=False):
    """Photos [N, S, S, 3] in [-1, 1] and their class ids [N, S, S] ->
    (region features float32 [N, L, feat_num], present [N, L])."""
    one_hot = label2face.one_hot(labels, self.family_config.label_nc)
    return semantic_norm.region_average(
        self.feature_encoder(photos, training=training), one_hot)

  def encode_style(self, inputs, training=False) -> Dict[str, tf.Tensor]:
    """With label_feat, {"features" [B, L, feat_num], "present" [B, L]}:
    each region's features averaged over the K references that show it
    (refs [B, K, S, S, 3], ref_labels [B, K, S, S]); else {} (the layout
    alone decides the face)."""
    if self.feature_encoder is None:
      return {}
    refs, ref_labels = inputs["refs"], inputs["ref_labels"]
    shape = ops.shape(refs)
    features, present = self.encode_regions_per_image(
        ops.reshape(refs, (-1, *shape[2:])),
        ops.reshape(ref_labels, (-1, *shape[2:4])), training)
    features = ops.reshape(features, (shape[0], shape[1],
                                      *features.shape[1:]))
    present = ops.reshape(present, (shape[0], shape[1], -1))
    style = {}
    style["features"], style["present"] = semantic_norm.average_present(
        features, present)
    return style

  def feature_map(self, labels, features):
    """Each pixel gets its class's features: [B, S, S, feat_num]."""
    one_hot = label2face.one_hot(labels, self.family_config.label_nc)
    return ops.einsum("bhwl,blf->bhwf", one_hot, features)

  def generate(self, labels, style, training=False, sketch=None):
    """The face of `labels` [B, S, S] with `style` (`encode_style`'s);
    with --edge_source=sketch, `sketch` [B, S, S, 1] in [-1, 1] is its
    boundary channel."""
    x = condition(labels, self.family_config, sketch)
    if self.feature_encoder is not None:
      x = ops.concatenate([x, self.feature_map(labels, style["features"])],
                          axis=-1)
    pyramid = [x]
    for _ in range(self.enhancers):
      pyramid.append(downsample(pyramid[-1]))
    y = self.global_net(pyramid[-1], training=training)
    for n in range(self.enhancers):
      front = self.local_front[n](pyramid[self.enhancers - 1 - n],
                                  training=training)
      y = self.local_back[n](front + y, training=training)
    return self.to_rgb(y, training=training)

  def call(self, inputs, training=False):
    return self.generate(inputs["labels"],
                         self.encode_style(inputs, training=training),
                         training=training, sketch=inputs.get("sketch"))

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "base_channels": self.base_channels}


def build_generator(family_config, image_size, base_channels, k_refs=1):
  """A built `Pix2PixHDGenerator` named "generator"."""
  generator = Pix2PixHDGenerator(family_config, image_size, base_channels,
                                 name="generator")
  generator(label2face.dummy_inputs(image_size, k_refs=k_refs))
  return generator
