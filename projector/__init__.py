"""Exports embeddings for TensorBoard's Embedding Projector.

  from projector import export_embeddings
  export_embeddings("runs/demo/projector", style_codes, metadata=ids,
                    images=photos, name="style")
  export_embeddings("runs/demo/projector", content_maps, name="content")
  # tensorboard --logdir runs/demo  ->  Projector tab, run "projector".
"""

from projector.exporter import export_embeddings
from projector.exporter import Exported

__all__ = ["export_embeddings", "Exported"]
