"""The base of models that are rebuilt from (ModelConfig, image_size).

The few-shot and label-map networks take their whole shape from the run's
`ModelConfig` and image size, so that pair is their Keras config: a saved
model or a checkpoint's generator is rebuilt from `config.json` alone.
"""

import dataclasses

import keras

from s2f_tf import config as config_lib


class ConfiguredModel(keras.Model):
  """A model rebuilt from (ModelConfig, image_size): its whole config.

  Subclasses check the pair against their own limits in `__init__`: each
  family has different ones.
  """

  def __init__(self, model_config, image_size, **kwargs):
    super().__init__(**kwargs)
    self.model_config, self.image_size = model_config, image_size

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "model_config": dataclasses.asdict(self.model_config)}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    model_config = config_lib.ModelConfig(**config.pop("model_config"))
    return cls(model_config, **config)
