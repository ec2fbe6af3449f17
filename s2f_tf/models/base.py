"""The base of models rebuilt from (family section, image_size, base_channels).

The few-shot and label-map generators take their whole shape from the run's
family section (`s2f_tf.config_families`), image size and base width, so
that triple is their Keras config: a saved model or a checkpoint's generator
is rebuilt from `config.json` alone.
"""

import dataclasses

import keras


class ConfiguredModel(keras.Model):
  """A model rebuilt from (family section, image_size, base_channels).

  Subclasses set SECTION, the section class `from_config` rebuilds, and
  check the triple against their own limits in `__init__`: each family has
  different ones.
  """

  SECTION = None

  def __init__(self, family_config, image_size, base_channels, **kwargs):
    super().__init__(**kwargs)
    self.family_config, self.image_size = family_config, image_size
    self.base_channels = base_channels

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "base_channels": self.base_channels,
            "family_config": dataclasses.asdict(self.family_config)}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    family_config = cls.SECTION(**config.pop("family_config"))
    return cls(family_config, **config)
