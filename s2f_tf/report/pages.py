"""The site's HTML: plain pages, one stylesheet, a few lines of sorting JS.

Every string that comes from a run (folder names, config values, metric
names, problems) goes through `text` or `href`, so a config value like
`<script>` shows as text and a folder named `a b#c` still links.
"""

import dataclasses
import html
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib import parse

from s2f_tf.report import runs as runs_lib

MISSING = '<span class="missing">missing</span>'

STYLE = """\
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums;
         white-space: nowrap; }
table.sortable { font-size: 12px; }
th.sortable { cursor: pointer; background: #f3f3f3; }
th.sortable:after { content: " \\2195"; color: #999; }
.missing { color: #b00; font-style: italic; }
.problems { color: #b00; font-size: 12px; }
img.thumb { height: 64px; image-rendering: pixelated; }
img.sample { height: 256px; max-width: 100%; object-fit: contain;
             image-rendering: pixelated; }
img.plot { max-width: 100%; }
figure { margin: 0 0 1.5em; } figcaption { color: #555; max-width: 60em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"""

# Click a header to sort by it; again to reverse. Cells sort by data-v
# (numbers) or text; missing values sort last.
SORT_JS = """\
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], up = th.dataset.dir !== "up";
      th.dataset.dir = up ? "up" : "down";
      var key = function (row) {
        var cell = row.cells[col], v = cell.dataset.v;
        return v === undefined ? cell.textContent : parseFloat(v);
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def text(value: Any) -> str:
  return html.escape(str(value))


def href(path: str) -> str:
  """A relative file path as an escaped, percent-encoded URL."""
  return html.escape(parse.quote(path))


def number(value: Any) -> str:
  """A table cell's content and data-v attribute for a value of any type."""
  if value is None:
    return f"<td>{MISSING}</td>"
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return f"<td>{text(value)}</td>"
  if isinstance(value, float) and not math.isfinite(value):
    return f'<td class="num">{text(value)}</td>'
  shown = f"{value:.4g}" if isinstance(value, float) else str(value)
  return f'<td class="num" data-v="{value!r}">{shown}</td>'


def duration(seconds: Optional[float]) -> str:
  if seconds is None:
    return f"<td>{MISSING}</td>"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  shown = (f"{hours}h {minutes:02d}m" if hours else
           f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f} s")
  return f'<td class="num" data-v="{seconds!r}">{shown}</td>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          sortable: bool = False) -> str:
  """Headers are plain text (escaped here); cells are ready `<td>` HTML."""
  kind = ' class="sortable"' if sortable else ""
  # Long metric names (model/psnr) may break after a slash.
  head = "".join(f"<th{kind}>{text(h).replace('/', '/<wbr>')}</th>"
                 for h in headers)
  body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
  return (f'<table{kind}><thead><tr>{head}</tr></thead>\n'
          f"<tbody>\n{body}\n</tbody></table>")


def document(title: str, body: str, root: str = "") -> str:
  """A whole page; `root` is the relative path back to the site's top."""
  return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f"<title>{text(title)}</title>"
          f'<link rel="stylesheet" href="{root}style.css"></head>\n'
          f"<body>\n{body}\n<script>\n{SORT_JS}</script>\n</body></html>\n")


def problems(items: Sequence[str], width: Optional[int] = None) -> str:
  """What is missing or broken; cut to `width` characters a problem (the
  index), the whole text in the tooltip and on the run's page."""
  if not items:
    return ""
  shown = [p if width is None or len(p) <= width else p[:width - 1] + "…"
           for p in items]
  return (f'<div class="problems" title="{text("; ".join(items))}">' +
          "; ".join(text(p) for p in shown) + "</div>")


def image(path: Optional[str], alt: str, css: str) -> str:
  if path is None:
    return MISSING
  return f'<img class="{css}" src="{href(path)}" alt="{text(alt)}">'


def figures(items: List[Dict[str, str]]) -> str:
  """Loss figures: SVG (or PNG) shown, every written format linked."""
  if not items:
    return f"<p>{MISSING}: no train/ scalars in the TensorBoard events.</p>"
  out = []
  for fig in items:
    links = {fmt: "plots/" + fig[fmt] for fmt in ("svg", "png", "pdf")
             if fmt in fig}
    shown = links.get("svg") or links.get("png")
    files = " ".join(f'<a href="{href(path)}">{fmt.upper()}</a>'
                     for fmt, path in links.items())
    out.append(f"<figure>{image(shown, fig['group'], 'plot')}"
               f"<figcaption>{text(fig['caption'])} Files: {files}"
               "</figcaption></figure>")
  return "\n".join(out)


def _is_stream(values: Any) -> bool:
  """A named evaluation stream's results: a section holding sections."""
  return isinstance(values, dict) and any(isinstance(v, dict)
                                          for v in values.values())


def eval_tables(results: Optional[Dict[str, Any]]) -> str:
  """eval.json as tables: one per set of measures, then the lone scalars.

  Sections with the same keys (the model and its baselines: l1, psnr, ssim)
  share a table, row by row; any other section (style swap) gets its own.
  A named stream's results (e.g. "a2b": {"swd": ...}) follow under a
  heading of its name, in the same tables.
  """
  if results is None:
    return f"<p>{MISSING}: no readable eval.json.</p>"
  streams = {n: v for n, v in results.items() if _is_stream(v)}
  results = {n: v for n, v in results.items() if n not in streams}
  by_keys = {}
  for name, values in results.items():
    if isinstance(values, dict):
      by_keys.setdefault(tuple(sorted(values)), []).append(name)
  out = ""
  for columns, names in by_keys.items():
    rows = [[f"<td>{text(n)}</td>"] + [number(results[n][c]) for c in columns]
            for n in names]
    out += table(["generator / baseline" if len(names) > 1 else "section"] +
                 list(columns), rows)
  scalars = [[f"<td>{text(k)}</td>", number(v)] for k, v in results.items()
             if not isinstance(v, dict)]
  if scalars:
    out += table(["measure", "value"], scalars)
  for name, values in streams.items():
    out += f"<h3>stream {text(name)}</h3>{eval_tables(values)}"
  return out


@dataclasses.dataclass
class RunEntry:
  """One run as the pages show it; paths are relative to the run's page."""

  run: runs_lib.Run
  href: str  # From the index to the run's page.
  progress: Dict[str, Optional[float]]
  figures: List[Dict[str, str]]
  problems: List[str]
  grids: List[Tuple[int, str]]
  gif: Optional[str]

  @property
  def steps(self) -> Optional[int]:
    """Last logged step; else the eval's or the last grid's step."""
    if self.progress.get("steps") is not None:
      return int(self.progress["steps"])
    step = (self.run.eval or {}).get("step")
    if isinstance(step, int):
      return step
    return self.grids[-1][0] if self.grids else None


def _flags(run: runs_lib.Run) -> str:
  if run.config is None:
    return f"<p>{MISSING}: no readable config.json.</p>"
  rows = [[f"<td>{text(k)}</td>", number(v)]
          for k, v in runs_lib.flatten(run.config, sep=".").items()]
  flagfile = (f"<details><summary>flags.cfg (replays the run)</summary>"
              f"<pre>{text(run.flags_text)}</pre></details>"
              if run.flags_text else "")
  return table(["config key", "value"], rows) + flagfile


def _grids(entry: RunEntry) -> str:
  if not entry.grids:
    return f"<p>{MISSING}: no samples/step_*.png.</p>"
  return "\n".join(f"<figure>{image(path, f'step {step}', 'sample')}"
                   f"<figcaption>step {step}</figcaption></figure>"
                   for step, path in entry.grids)


def run_page(entry: RunEntry) -> str:
  """A run's page: flags, eval vs baselines, curves, grids, progress GIF."""
  run = entry.run
  body = (f'<p><a href="../../index.html">All runs</a></p>'
          f"<h1>{text(run.name)}</h1>"
          f"<p>task {text(run.task or 'unknown')}, model "
          f"{text(run.model or 'unknown')}, {text(run.status(entry.steps))}, "
          f"step {text(entry.steps if entry.steps is not None else '?')} of "
          f"{text(run.target_steps or '?')}; folder "
          f"<code>{text(run.path)}</code></p>{problems(entry.problems)}"
          f"<h2>Evaluation against the baselines</h2>"
          f"{eval_tables(run.eval)}"
          f"<h2>Loss curves</h2>{figures(entry.figures)}"
          f"<h2>Progress</h2>{image(entry.gif, 'progress GIF', 'sample')}"
          f"<h2>Sample grids</h2>{_grids(entry)}"
          f"<h2>Resolved flags</h2>{_flags(run)}")
  return document(f"s2f run {run.name}", body, root="../../")


def _index_row(entry: RunEntry, diff: Sequence[str],
               metrics: Sequence[str]) -> List[str]:
  run = entry.run
  config = runs_lib.flatten(run.config or {}, sep=".")
  scores = runs_lib.flatten(run.eval or {})
  thumb = (image(entry.href + entry.grids[-1][1], "last sample grid", "thumb")
           if entry.grids else MISSING)
  return ([f'<td><a href="{href(entry.href)}index.html">{text(run.name)}'
           f"</a>{problems(entry.problems, width=40)}</td>",
           f"<td>{thumb}</td>",
           f"<td>{text(run.status(entry.steps))}</td>",
           number(run.task), number(run.model)] +
          [number(config.get(k)) for k in diff] +
          [number(entry.steps), duration(entry.progress.get("wall_time_s"))] +
          [number(scores.get(m)) for m in metrics])


def index_page(entries: Sequence[RunEntry], others: Sequence[str],
               runs_dir: str) -> str:
  """One sortable row per run: config diff, progress, every eval metric."""
  configs = [e.run.config for e in entries if e.run.config is not None]
  diff = [k for k in runs_lib.differing_keys(configs)
          if k not in ("model.model", "model.task")]  # Own columns.
  metrics = sorted({k for e in entries
                    for k, v in runs_lib.flatten(e.run.eval or {}).items()
                    if isinstance(v, (int, float))})
  headers = (["run", "last sample grid", "status", "task", "model"] + diff +
             ["steps", "wall time"] + metrics)
  rows = [_index_row(e, diff, metrics) for e in entries]
  skipped = ("<p>Not runs (no config.json, flags.cfg, eval.json, train/ or "
             "samples/): " + ", ".join(f"<code>{text(o)}</code>"
                                       for o in others) + "</p>"
             if others else "")
  body = (f"<h1>s2f runs in <code>{text(runs_dir)}</code></h1>"
          f"<p>{len(entries)} runs. Columns between model and steps are the "
          "config keys that differ between runs. Wall time: first to last "
          "logged scalar. Click a column header to sort.</p>"
          f"{table(headers, rows, sortable=True)}{skipped}")
  return document("s2f runs", body)
