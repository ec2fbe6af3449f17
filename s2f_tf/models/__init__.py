"""The networks of each model family, one module per family.

  base      the model rebuilt from (ModelConfig, image_size) that few_shot,
            label2face and patchgan build on
  few_shot  content encoder, K-shot style embedder and AdaLIN decoder
            (sketch -> face)
  label2face  SPADE / CLADE / SEAN generator (label map -> face)
  patchgan  multi-scale spectral-norm PatchGAN, the conditional
            discriminator of few_shot and label2face
  dcgan     DCGAN generator and critic (the unconditional baselines)
  stylegan2 mapping network, skip generator, residual D (StyleGAN2)
  lightweight  SLE generator, self-supervised D (LightweightGAN / FastGAN)
  ugatit    CAM-attention AdaLIN generator (full and light), CAM PatchGAN
            (U-GAT-IT, unpaired translation)
  cyclegan  ResNet generator, 70x70 PatchGAN, history image pool
            (CycleGAN, the unpaired baseline)

Models are built from a config by their task (`s2f_tf.tasks`); shared parts
live in `s2f_tf.layers`.
"""
