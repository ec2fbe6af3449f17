"""A static results site over a folder of runs: `site.build_report`.

Sits on top of everything: it reads the files other modules write into a
workdir (config.json, flags.cfg, eval.json, samples/, progress.gif, train/
events) and is imported by no other s2f_tf module.
"""
