"""Loss-curve figures with matplotlib: SVG / PNG for the site, PDF for papers.

One figure per loss group (see `curves.group_of`). Loss groups share one axis
(terms of one player are comparable); measurements get one panel each,
because their units differ (steps/s, a standard deviation, a loss scale).
Text is embedded as text in SVG and PDF (Type 42 fonts), so figures stay
searchable and editable in a paper.
"""

import os
from typing import Dict, List, Sequence, Tuple

import matplotlib
from matplotlib import figure as figure_lib
from matplotlib import ticker
import numpy as np

from s2f_tf.report import curves as curves_lib

FORMATS = ("svg", "png", "pdf")
WEB_FORMATS = ("svg", "png")  # What an <img> can show.
SMOOTHING = 0.6  # TensorBoard's default slider value.
TITLES = {"discriminator": "Discriminator loss terms",
          "generator": "Generator loss terms",
          "measurements": "Other measurements"}
_RC = {"svg.fonttype": "none", "pdf.fonttype": 42, "font.size": 9,
       "axes.titley": 1.0,  # A fixed title place skips a bbox pass a draw.
       "axes.spines.top": False, "axes.spines.right": False}


def unit(name: str) -> str:
  """The y-axis label of a tag: losses are unitless, measurements are not."""
  lower = name.lower()
  if curves_lib.group_of(name) != "measurements":
    return "loss (unitless)"
  for suffix, label in (("_per_second", "steps/s"),
                        ("_std", "standard deviation"), ("_scale", "factor"),
                        ("_lr", "learning rate")):
    if lower.endswith(suffix):
      return label
  return "value"


def caption(group: str) -> str:
  """States exactly what is drawn, smoothing included (page and file)."""
  return (f"{TITLES[group]} logged under train/ against the generator step. "
          f"Faint lines: the logged values; solid lines: exponential moving "
          f"average with weight {SMOOTHING} (debiased, as TensorBoard's "
          f"smoothing slider).")


def _draw(ax, curve, colour) -> None:
  ax.plot(curve.steps, curve.values, color=colour, alpha=0.25, linewidth=0.8)
  ax.plot(curve.steps, curves_lib.smooth(curve.values, SMOOTHING),
          color=colour, linewidth=1.5, label=curve.name)


# Figures are reused across runs in one process, keyed by (group, panels):
# building axes and their ticks is ~40% of the cost of drawing a figure.
_REUSED: Dict[Tuple[str, int], Tuple[figure_lib.Figure, np.ndarray]] = {}


def _empty_figure(group: str, panels: int):
  """The figure and axes for a group, with no lines; call under _RC."""
  if (group, panels) not in _REUSED:
    height = 1.0 + 1.5 * panels
    # A bare Figure, not pyplot's: no figure manager to register and close.
    fig = figure_lib.Figure(figsize=(6.0, height))
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)
    # Fixed margins in inches: "tight" bounding boxes would draw twice.
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.45 / height,
                        top=1 - 0.6 / height, hspace=0.45)
    fig.suptitle(TITLES[group])
    for ax in axes[:, 0]:
      ax.yaxis.set_major_locator(ticker.MaxNLocator(4))
    axes[-1, 0].set_xlabel("generator step")
    axes[-1, 0].xaxis.set_major_locator(ticker.MaxNLocator(5, integer=True))
    _REUSED[group, panels] = fig, axes
  fig, axes = _REUSED[group, panels]
  for ax in axes[:, 0]:
    for line in list(ax.lines):
      line.remove()
  return fig, axes


def figure(group: str, members: Sequence[curves_lib.Curve]):
  """The figure of one group, valid until the next call for the same group."""
  panels = len(members) if group == "measurements" else 1
  with matplotlib.rc_context(_RC):
    fig, axes = _empty_figure(group, panels)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, curve in enumerate(members):
      ax = axes[i if panels > 1 else 0, 0]
      _draw(ax, curve, colours[i % len(colours)])
      ax.set_ylabel(unit(curve.name))
      if panels > 1:
        ax.set_title(curve.name, loc="left", fontsize=9)
    for ax in axes[:, 0]:
      ax.relim()
      ax.autoscale_view()
    if panels == 1:
      axes[0, 0].legend(frameon=False, fontsize=8)
  return fig


def save_group(group: str, members: Sequence[curves_lib.Curve],
               out_dir: str, formats: Sequence[str]) -> Dict[str, str]:
  """Writes `<group>.<format>` for each format; returns format -> file name."""
  os.makedirs(out_dir, exist_ok=True)
  fig = figure(group, members)
  written = {}
  with matplotlib.rc_context(_RC):
    for fmt in formats:
      name = f"{group}.{fmt}"
      # The caption travels with the file (PDF Subject, SVG/PNG
      # Description), so an exported figure still says how it was smoothed.
      about = {"pdf": "Subject"}.get(fmt, "Description")
      fig.savefig(os.path.join(out_dir, name), format=fmt, dpi=150,
                  metadata={"Title": TITLES[group], about: caption(group)})
      written[fmt] = name
  return written


def save_all(curves: Dict[str, curves_lib.Curve], out_dir: str,
             formats: Sequence[str]) -> List[Dict[str, str]]:
  """Every group's figure; one dict per group: group, caption, files."""
  figures = []
  for group, members in curves_lib.grouped(curves).items():
    files = save_group(group, members, out_dir, formats)
    figures.append({"group": group, "caption": caption(group), **files})
  return figures
