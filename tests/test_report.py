"""s2f-report: robust reading, grouping, escaping, incremental rebuilds."""

import html.parser
import os
import re
import subprocess
import sys

import pytest
from PIL import Image

import fake_runs
from s2f_tf.report import curves
from s2f_tf.report import pages
from s2f_tf.report import plots
from s2f_tf.report import runs as runs_lib
from s2f_tf.report import site


class _Page(html.parser.HTMLParser):
  """The visible text, <img src> and <a href> of one page."""

  def __init__(self, path):
    super().__init__()
    self.text, self.images, self.links = [], [], []
    self._glue = False  # After <wbr>: the same word goes on.
    with open(path, encoding="utf-8") as f:
      self.feed(f.read())

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == "img":
      self.images.append(attrs["src"])
    if tag == "a":
      self.links.append(attrs["href"])
    self._glue = tag == "wbr"

  def handle_data(self, data):
    if self._glue:
      self.text[-1] += data
    else:
      self.text.append(data)
    self._glue = False


def broken_images(page_path):
  """Every <img src> and local <a href> that is not a readable file."""
  from urllib import parse  # pylint: disable=g-import-not-at-top
  page = _Page(page_path)
  bad = []
  for src in page.images + page.links:
    path = os.path.join(os.path.dirname(page_path), parse.unquote(src))
    if not os.path.isfile(path):
      bad.append(src)
    elif src in page.images and not src.endswith(".svg"):
      with Image.open(path) as image:
        image.verify()
  return bad


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  root = tmp_path_factory.mktemp("report")
  made = fake_runs.write_kinds(str(root / "runs"))
  summary = site.build_report(str(root / "runs"), str(root / "site"),
                              plots=["svg", "pdf"], workers=1)
  return root, made, summary


def test_groups_follow_the_documented_rule():
  groups = {name: curves.group_of(name) for name in (
      "d/adv", "d/r1", "d/D_real", "d/total", "g/adv", "g/l1", "g/GAN",
      "g/d_like_name", "g/total", "steps_per_second", "g/output_std",
      "d/loss_scale", "d/augment_probability")}
  assert {n for n, g in groups.items() if g == "discriminator"} == {
      "d/adv", "d/r1", "d/D_real", "d/total"}
  assert {n for n, g in groups.items() if g == "measurements"} == {
      "steps_per_second", "g/output_std", "d/loss_scale",
      "d/augment_probability"}


def test_old_runs_without_namespaces_group_by_the_d_prefix():
  groups = {name: curves.group_of(name) for name in (
      "d_adv", "d_r1", "D_real", "D_fake", "g_adv", "g_l1", "GAN",
      "GAN_Feat", "VGG", "KLD", "steps_per_second", "output_std",
      "loss_scale")}
  assert {n for n, g in groups.items() if g == "discriminator"} == {
      "d_adv", "d_r1", "D_real", "D_fake"}
  assert {n for n, g in groups.items() if g == "measurements"} == {
      "steps_per_second", "output_std", "loss_scale"}


def test_every_kind_of_folder_is_read_without_raising(built):
  root, _, summary = built
  found, others = runs_lib.find_runs(str(root / "runs"))
  by_name = {r.name: r for r in found}
  assert sorted(by_name) == ["broken", "dcgan_wgan", "few_shot", "label_map"]
  assert others == ["notes"] and summary.others == ["notes"]
  assert by_name["broken"].config is None
  assert any("config.json is unreadable" in p
             for p in by_name["broken"].problems)
  assert by_name["label_map"].task == "label_map"
  assert by_name["dcgan_wgan"].task == "unconditional"
  assert by_name["few_shot"].status(40) == "finished"
  assert by_name["dcgan_wgan"].status(20) == "running"


def test_index_shows_diff_metrics_and_missing_parts(built):
  root, _, _ = built
  index = root / "site" / "index.html"
  page = " ".join(_Page(index).text)
  for expected in ("few_shot", "dcgan_wgan", "label_map", "broken",
                   "train.gan_loss", "train.n_critic", "model/psnr",
                   "style_swap_toward_new_refs/hair", "18.5", "wgan",
                   "running", "finished", "config.json is unreadable",
                   "notes"):
    assert expected in page, expected
  assert "data.root" not in page  # The same in every run: not a diff.
  assert broken_images(str(index)) == []


def test_run_pages_hold_curves_grids_and_escaped_config(built):
  root, _, _ = built
  run_dir = root / "site" / "runs" / "few_shot"
  raw = (run_dir / "index.html").read_text()
  assert "<b>bold</b>" not in raw and "&lt;b&gt;bold&lt;/b&gt;" in raw
  page = _Page(run_dir / "index.html")
  assert [s for s in page.images if s.startswith("samples/")] == [
      f"samples/step_{s:07d}.png" for s in (10, 20, 30, 40)]
  assert "progress.gif" in page.images
  assert "smoothing" in " ".join(page.text)
  assert broken_images(str(run_dir / "index.html")) == []
  for group in ("discriminator", "generator", "measurements"):
    pdf = (run_dir / "plots" / f"{group}.pdf").read_bytes()
    assert pdf[:4] == b"%PDF" and b"moving average with weight 0.6" in pdf
    assert "<svg" in (run_dir / "plots" / f"{group}.svg").read_text()
  spade = _Page(root / "site" / "runs" / "label_map" / "index.html")
  assert "plots/discriminator.svg" in spade.images  # D_real, D_fake.
  broken = " ".join(_Page(root / "site" / "runs" / "broken" / "index.html")
                    .text)
  assert "no readable config.json" in broken and "no readable eval.json" in (
      broken)


def test_rebuild_redraws_only_runs_whose_events_changed(built):
  root, made, _ = built
  out = str(root / "site")
  grid = os.path.join(out, "runs", "few_shot", "samples", "step_0000010.png")
  copied_at = os.stat(grid).st_mtime_ns
  again = site.build_report(str(root / "runs"), out, ["svg", "pdf"], 1)
  assert again.redrawn == 0
  assert os.stat(grid).st_mtime_ns == copied_at  # Not copied again.
  fake_runs.write_events(made["dcgan_wgan"], ("d_adv",), [25, 30])
  fake_runs.write_grids(made["dcgan_wgan"], [10, 20, 30], gif=False)
  more = site.build_report(str(root / "runs"), out, ["svg", "pdf"], 1)
  assert more.redrawn == 1
  index = " ".join(_Page(os.path.join(out, "index.html")).text)
  assert re.search(r"dcgan_wgan.*running.* 30 ", index)
  assert os.path.exists(os.path.join(out, "runs", "dcgan_wgan", "samples",
                                     "step_0000030.png"))


def _report(*args):
  return subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.report_main", *args],
      capture_output=True, text=True, timeout=120)


def test_cli_bad_input_is_one_line(tmp_path):
  missing = _report(f"--runs={tmp_path}/nope", f"--out={tmp_path}/site")
  assert missing.returncode == 2
  assert missing.stderr.strip() == (f"s2f-report: --runs='{tmp_path}/nope' "
                                    "is not a folder")
  fmt = _report(f"--runs={tmp_path}", f"--out={tmp_path}/site",
                "--plots=jpg")
  assert fmt.returncode == 2 and "Traceback" not in fmt.stderr
  assert "--plots='jpg' is unknown" in fmt.stderr
  (tmp_path / "file").write_text("")
  out_file = _report(f"--runs={tmp_path}", f"--out={tmp_path}/file")
  assert out_file.returncode == 2
  assert out_file.stderr.strip().endswith("is a file; give a folder")


def test_a_reused_figure_draws_the_same_as_a_fresh_one(built, tmp_path):
  _, made, _ = built
  few_shot = curves.read_curves(os.path.join(made["few_shot"], "train"))
  label_map = curves.read_curves(os.path.join(made["label_map"], "train"))
  plots.save_all(few_shot, str(tmp_path / "a"), ["png"])
  plots.save_all(label_map, str(tmp_path / "b"), ["png"])  # Other axes.
  plots.save_all(few_shot, str(tmp_path / "c"), ["png"])
  for group in ("discriminator", "generator", "measurements"):
    first = (tmp_path / "a" / f"{group}.png").read_bytes()
    assert first == (tmp_path / "c" / f"{group}.png").read_bytes(), group
    assert first != (tmp_path / "b" / f"{group}.png").read_bytes(), group


def test_site_folders_of_runs_never_collide():
  names = ["a/b", "a__b", "a b", "a_b", ".", "few_shot"]
  slugs = [site.slug(n) for n in names]
  assert len(set(slugs)) == len(names)
  assert site.slug("few_shot") == "few_shot"
  assert all(s.strip(".") and "/" not in s for s in slugs)


def test_status_comes_from_the_lock_not_from_event_times(tmp_path):
  """Issue 28: a killed run showed as running for 5 minutes (its events
  were recent); train.lock says whether its trainer still runs."""
  # A pid that ran and exited (reaped): Linux hands pids out in order, so
  # it comes back only after pid_max others.
  dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
  dead_pid.wait()
  kinds = {"alive": os.getpid(), "killed": dead_pid.pid, "exited": None,
           "elsewhere_recent": os.getpid()}
  for name, pid in kinds.items():
    workdir = str(tmp_path / name)
    fake_runs.write_json(workdir, "config.json", {"train": {"steps": 40}})
    fake_runs.write_events(workdir, ("d_adv",), [10, 20])  # Just written.
    if pid is not None:
      fake_runs.hold_lock(workdir, pid, "another-host"
                          if name == "elsewhere_recent" else None)
  found = {r.name: r for r in runs_lib.find_runs(str(tmp_path))[0]}
  assert found["alive"].status(20) == "running"
  assert found["killed"].status(20) == (
      f"killed at 20 of 40 (pid {dead_pid.pid} is gone)")
  assert found["exited"].status(20) == "stopped at 20 of 40"
  assert found["elsewhere_recent"].status(20) == "running"


def test_a_self_looping_sample_grid_is_named_and_the_site_still_built(
    tmp_path):
  """Issue 28: samples/step_*.png linking to itself stopped the whole site
  (ELOOP from the copy); now that grid is left out and named on the run's
  page, and the other run and grids are there."""
  runs = tmp_path / "runs"
  for name in ("good", "looped"):
    fake_runs.write_json(str(runs / name), "config.json", {})
    fake_runs.write_grids(str(runs / name), [100, 200], gif=False)
  loop = runs / "looped" / "samples" / "step_0000200.png"
  loop.unlink()
  os.symlink(loop.name, loop)  # Relative: the link points at itself.
  summary = site.build_report(str(runs), str(tmp_path / "site"), workers=1)
  assert summary.runs == 2
  page = str(tmp_path / "site" / "runs" / "looped" / "index.html")
  assert broken_images(page) == []
  assert _Page(page).images.count("samples/step_0000100.png") == 1
  assert "samples/step_0000200.png" not in _Page(page).images
  text = " ".join(_Page(page).text)
  assert ("samples/step_0000200.png is unreadable: Too many levels of "
          "symbolic links") in text
  good = _Page(str(tmp_path / "site" / "runs" / "good" / "index.html"))
  assert "samples/step_0000200.png" in good.images
  assert os.path.isfile(tmp_path / "site" / "index.html")


def test_nested_runs_are_found_and_empty_folders_listed(tmp_path):
  for name in ("sweep/lr1", "sweep/lr2", "sweep/lr2/eval"):
    fake_runs.write_json(str(tmp_path / name), "config.json", {})
  (tmp_path / "empty").mkdir()
  found, others = runs_lib.find_runs(str(tmp_path))
  assert [r.name for r in found] == ["sweep/lr1", "sweep/lr2"]
  assert others == ["empty"]


def test_a_half_written_or_garbage_event_file_reads_what_is_there(
    built, tmp_path):
  _, made, _ = built
  source = runs_lib.read_run(made["few_shot"], "few_shot").event_files[0]
  with open(source, "rb") as f:
    data = f.read()
  (tmp_path / "half").mkdir()
  (tmp_path / "half" / os.path.basename(source)).write_bytes(data[:-7])
  half = curves.read_curves(str(tmp_path / "half"))
  assert curves.progress(half)["steps"] == 40  # Only the cut record is lost.
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "events.out.tfevents.1.x.v2").write_bytes(
      os.urandom(3000))
  assert curves.read_curves(str(tmp_path / "junk")) == {}


def test_cli_builds_the_site_and_prints_one_line(built):
  root, _, _ = built
  done = _report(f"--runs={root / 'runs'}", f"--out={root / 'cli_site'}",
                 "--plots=pdf")
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.startswith("4 runs (4 redrawn), 1 other folders -> ")
  # No INFO lines from TensorBoard's reader or fontTools' PDF subsetting.
  assert not re.findall(r"^I\d{4} ", done.stderr, re.MULTILINE)
  assert (root / "cli_site" / "runs" / "few_shot" / "plots" /
          "generator.pdf").exists()


def test_a_run_folder_named_like_html_is_escaped_and_linked(tmp_path):
  name = 'a<b>&"c #1'
  fake_runs.write_json(str(tmp_path / "runs" / name), "config.json",
                       {"model": {"model": "<i>s2f</i>"}})
  site.build_report(str(tmp_path / "runs"), str(tmp_path / "site"), ["svg"])
  raw = (tmp_path / "site" / "index.html").read_text()
  assert "<b>" not in raw and "<i>" not in raw
  assert "a&lt;b&gt;&amp;&quot;c #1" in raw
  index = str(tmp_path / "site" / "index.html")
  assert broken_images(index) == []  # The run's link resolves too.
  assert name in " ".join(_Page(index).text)


def test_eval_tables_show_each_named_stream_under_its_name():
  results = {"fid": {"value": 9.5, "images": 16}, "step": 3,
             "a2b": {"swd": {"x1e3_avg": 1.25, "images": 16}},
             "b2a": {"swd": {"x1e3_avg": 2.75, "images": 16}}}
  raw = pages.eval_tables(results)
  assert "{" not in raw  # No section is printed as a dict.
  a2b, b2a = raw.index("stream a2b"), raw.index("stream b2a")
  assert raw.index("9.5") < a2b < raw.index("1.25") < b2a < raw.index("2.75")
  assert "a2b/swd/x1e3_avg" in runs_lib.flatten(results)
