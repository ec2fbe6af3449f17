"""s2f-serve's API in-process (Starlette's TestClient) on tiny exports:
the face it returns, and a one-line 4xx for each bad request, after which
it still serves."""

import base64
import concurrent.futures
import os
import tempfile
import types

import cv2
import numpy as np
import pytest
from starlette import testclient
import tensorflow as tf

import serve_models
from s2f_tf import clusters
from s2f_tf import export
from s2f_tf import tasks
from s2f_tf.data import labels as labels_lib
from s2f_tf.serve import app as app_lib
from s2f_tf.serve import model as model_lib

SIZE = 16  # The tiny exports' image size.
LABEL_NC = 19


def _client(paths):
  """The export of (export, workdir) `paths` behind a TestClient."""
  served = model_lib.load(export_dir=paths[0])
  return types.SimpleNamespace(
      served=served, http=testclient.TestClient(app_lib.make_app(served)),
      path=paths[0], workdir=paths[1])


@pytest.fixture(scope="module")
def models(tiny_data_root, served_models):
  photos = os.path.join(tiny_data_root, "CelebA-HQ-img")
  refs = [open(os.path.join(photos, f"{i}.jpg"), "rb").read()
          for i in range(3)]
  rng = np.random.default_rng(0)
  maps = rng.integers(0, LABEL_NC, (4, 32, 32), np.uint8)
  return types.SimpleNamespace(
      s2f=_client(served_models("sketch2face")),
      l2f=_client(served_models("label2face")),
      photo=serve_models.b64(serve_models.png(cv2.resize(
          cv2.imread(os.path.join(photos, "5.jpg")), (32, 32)))),
      refs=[serve_models.b64(r) for r in refs],
      maps=[serve_models.b64(serve_models.png(m)) for m in maps],
      sketch=serve_models.b64(serve_models.sketch()))


def _image(response):
  assert response.status_code == 200, response.text
  data = np.frombuffer(base64.b64decode(response.json()["image"]), np.uint8)
  return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _refused(response, status, *words):
  """The status, and one line of JSON error naming every word."""
  assert response.status_code == status, response.text
  error = response.json()["error"]
  assert "\n" not in error
  for word in words:
    assert word in error, error
  return error


def _differ(a, b):
  return np.abs(a.astype(int) - b).max() > 0


def _sketch_request(models, k=2):
  return {"sketch": models.sketch, "refs": models.refs[:k]}


def _label_request(models, k=2):
  return {"labels": models.maps[0], "refs": models.refs[:k],
          "ref_labels": models.maps[1:1 + k]}


def test_model_describes_the_editor_each_export_needs(models):
  s2f = models.s2f.http.get("/api/model").json()
  kinds = {i["field"]: i["kind"]
           for i in s2f["signatures"]["serving_default"]["inputs"]}
  assert (s2f["task"], s2f["image_size"], s2f["max_refs"]) == (
      "sketch2face", SIZE, 8)
  assert kinds == {"sketch": "Sketch", "sketch_from": "SketchFromPhoto",
                   "refs": "Photos"}
  assert "classes" not in s2f
  l2f = models.l2f.http.get("/api/model").json()
  assert sorted(l2f["signatures"]) == [
      "label2face", "label2face_float", "label2face_int32", "serving_default"]
  names = [c["name"] for c in l2f["classes"]]
  assert len(names) == LABEL_NC and names[:3] == ["background", "skin", "nose"]
  assert l2f["classes"][17]["colour"] == labels_lib.CLASS_COLOURS[17].tolist()
  page = models.l2f.http.get("/")
  assert page.status_code == 200 and "/api/run/" in page.text


@pytest.mark.parametrize("which", ["s2f", "l2f"])
def test_the_face_is_the_exports_own_answer_to_the_same_files(
    models, which, tmp_path):
  client = getattr(models, which)
  request = (_sketch_request if which == "s2f" else _label_request)(models)
  face = _image(client.http.post("/api/run/serving_default", json=request))
  # s2f-sample's path: the task reads the same bytes from files.
  files = {}
  for field, value in request.items():
    paths = []
    for i, item in enumerate(value if isinstance(value, list) else [value]):
      paths.append(str(tmp_path / f"{field}{i}"))
      with open(paths[-1], "wb") as f:
        f.write(base64.b64decode(item))
    files[field] = paths if isinstance(value, list) else paths[0]
  # The export's own signature: `served` holds it as load_image_fn loads it
  # (model.load calls export.load_image_fns on the same folder).
  config = export.serving_config(export_dir=client.path)
  fn = client.served.fns["serving_default"]
  feeds = tasks.make_task(config).load_serving_inputs(files)
  np.testing.assert_array_equal(face, fn(feeds)[0])
  assert face.shape == (SIZE, SIZE, 3) and face.std() > 0


def test_a_new_stroke_changes_the_face(models):
  first = _image(models.s2f.http.post("/api/run/serving_default",
                                      json=_sketch_request(models)))
  moved = dict(_sketch_request(models),
               sketch=serve_models.b64(serve_models.sketch(offset=20)))
  second = _image(models.s2f.http.post("/api/run/serving_default",
                                       json=moved))
  assert _differ(first, second)


def test_a_50_mb_body_is_refused_by_length_and_by_counting(models):
  big = b"x" * (50 * 1024 * 1024)
  _refused(models.s2f.http.post("/api/run/serving_default", content=big),
           413, "over 10 MB")
  # No Content-Length (chunked): refused once 10 MB have arrived.
  chunks = (big[i:i + 2**20] for i in range(0, len(big), 2**20))
  _refused(models.s2f.http.post("/api/run/serving_default", content=chunks),
           413, "over 10 MB")
  _image(models.s2f.http.post("/api/run/serving_default",
                              json=_sketch_request(models)))


def test_a_text_file_as_an_image_is_refused_naming_the_field(models):
  text = serve_models.b64(b"hello, I am not a picture\n")
  _refused(models.s2f.http.post(
      "/api/run/serving_default",
      json=dict(_sketch_request(models), sketch=text)),
           415, "sketch: not a decodable image")
  _refused(models.s2f.http.post(
      "/api/run/serving_default",
      json={"sketch": models.sketch, "refs": [models.refs[0], text]}),
           415, "refs[1]: not a decodable image")
  error = _refused(models.l2f.http.post(
      "/api/run/serving_default",
      json=dict(_label_request(models), labels=text)), 400, "labels:")
  assert "s2f_serve_" not in error  # The temporary folder stays private.


def test_a_class_id_at_label_nc_is_refused_naming_it(models):
  bad = serve_models.b64(serve_models.png(np.full((32, 32), 19, np.uint8)))
  _refused(models.l2f.http.post(
      "/api/run/serving_default", json=dict(_label_request(models),
                                            labels=bad)),
           400, "labels:", "label value 19 >= --label_nc=19")
  ref_maps = [models.maps[1], bad]
  _refused(models.l2f.http.post(
      "/api/run/serving_default",
      json=dict(_label_request(models), ref_labels=ref_maps)),
           400, "ref_labels[1]:", "label value 19")


def test_a_wrong_number_of_references_is_refused(models):
  _refused(models.s2f.http.post(
      "/api/run/serving_default",
      json={"sketch": models.sketch, "refs": models.refs[:1] * 9}),
           400, "refs: 9 files", "at most 8")
  _refused(models.s2f.http.post("/api/run/serving_default",
                                json={"sketch": models.sketch}),
           400, "--refs")
  _refused(models.l2f.http.post(
      "/api/run/serving_default",
      json=dict(_label_request(models), ref_labels=models.maps[1:2])),
           400, "2 reference photos but 1 label maps")


def test_malformed_requests_get_one_line_each(models):
  post = models.s2f.http.post
  _refused(post("/api/run/serving_default", content=b"{not json"), 400,
           "must be JSON")
  _refused(post("/api/run/serving_default", json=["a"]), 400, "JSON object")
  _refused(post("/api/run/serving_default",
                json=dict(_sketch_request(models), sketch="@@@")),
           400, "sketch: not valid base64")
  _refused(post("/api/run/serving_default",
                json=dict(_sketch_request(models), labels=models.maps[0])),
           400, "not --labels")
  _refused(post("/api/run/generate", json={}), 404,
           "no signature 'generate'", "serving_default")
  _refused(models.s2f.http.get("/api/run/serving_default"), 405,
           "Method Not Allowed")
  _refused(models.s2f.http.get("/api/example?shot=x"), 400, "shot='x'")


def test_a_field_naming_a_path_writes_nothing(models):
  # Uploads go to a folder in gettempdir(); "../name" would be beside it.
  escape = os.path.join(tempfile.gettempdir(), "s2f_serve_escape")
  request = dict(_sketch_request(models),
                 **{"../s2f_serve_escape": models.sketch})
  _refused(models.s2f.http.post("/api/run/serving_default", json=request),
           400, "not --../s2f_serve_escape")
  assert not os.path.exists(escape)


def test_a_huge_png_is_refused_before_it_is_decoded(models):
  header = bytearray(serve_models.sketch())
  header[16:24] = (100000).to_bytes(4, "big") * 2  # IHDR width, height.
  _refused(models.s2f.http.post(
      "/api/run/serving_default",
      json=dict(_sketch_request(models), sketch=serve_models.b64(header))),
           400, "sketch: 100000x100000 pixels")


def test_20_concurrent_requests_each_get_the_lone_answer(models):
  request = _label_request(models)
  alone = _image(models.l2f.http.post("/api/run/serving_default",
                                      json=request))
  with concurrent.futures.ThreadPoolExecutor(20) as pool:
    faces = list(pool.map(
        lambda _: _image(models.l2f.http.post("/api/run/serving_default",
                                              json=request)), range(20)))
  for face in faces:
    np.testing.assert_array_equal(face, alone)
  np.testing.assert_array_equal(
      _image(models.l2f.http.post("/api/run/label2face", json=request)),
      alone)


def test_the_example_is_a_photo_and_its_label_map(models):
  body = models.l2f.http.get("/api/example?person=2&shot=3").json()
  photo = cv2.imdecode(np.frombuffer(base64.b64decode(body["photo"]),
                                     np.uint8), cv2.IMREAD_UNCHANGED)
  labels = cv2.imdecode(np.frombuffer(base64.b64decode(body["labels"]),
                                      np.uint8), cv2.IMREAD_UNCHANGED)
  assert photo.shape == (SIZE, SIZE, 3) and labels.shape == (SIZE, SIZE)
  assert 1 < len(np.unique(labels)) and labels.max() < LABEL_NC


def test_a_workdir_serves_the_face_its_export_serves(models):
  served = model_lib.load(workdir=models.s2f.workdir)
  from_run = testclient.TestClient(app_lib.make_app(served))
  np.testing.assert_array_equal(
      _image(from_run.post("/api/run/serving_default",
                           json=_sketch_request(models))),
      _image(models.s2f.http.post("/api/run/serving_default",
                                  json=_sketch_request(models))))


def test_a_photo_translates_with_its_attention_map(models, served_models):
  client = _client(served_models("ugatit"))
  described = client.http.get("/api/model").json()
  assert described["signatures"]["a2b_attention"]["inputs"] == [
      {"input": "image", "field": "image", "kind": "Photo",
       "what": "a photo of domain A", "many": False}]
  response = client.http.post("/api/run/a2b_attention",
                              json={"image": models.photo})
  face = _image(response)
  attention = cv2.imdecode(np.frombuffer(base64.b64decode(
      response.json()["outputs"]["attention"]), np.uint8),
                           cv2.IMREAD_UNCHANGED)
  photo = cv2.cvtColor(cv2.imdecode(np.frombuffer(
      base64.b64decode(models.photo), np.uint8), cv2.IMREAD_COLOR),
                       cv2.COLOR_BGR2RGB)
  # As load_image_fn(export_dir=client.path, signature="a2b_attention") loads it.
  want = client.served.fns["a2b_attention"].outputs({"image": photo[None]})
  np.testing.assert_array_equal(face, want["image"][0])
  np.testing.assert_array_equal(attention, want["attention"][0, ..., 0])
  assert attention.shape == (32, 32)


def test_a_seed_and_psi_draw_the_exports_own_stylegan2_face(
    models, served_models):
  client = _client(served_models("stylegan2"))
  signatures = client.http.get("/api/model").json()["signatures"]
  assert sorted(signatures) == ["generate", "mix", "serving_default",
                                "serving_float"]  # Not mapping: no image.
  assert [(i["field"], i["kind"]) for i in signatures["generate"]["inputs"]
         ] == [("z", "Noise"), ("psi", "Scalar")]
  assert signatures["generate"]["inputs"][1]["default"] == 0.7
  run = lambda **fields: client.http.post("/api/run/generate", json=fields)
  face = _image(run(z=3, psi=0.5))
  z = np.random.default_rng(3).standard_normal((1, 8)).astype(np.float32)
  want = tf.saved_model.load(client.path).signatures["generate"](
      z=tf.constant(z), psi=tf.constant(0.5))["image"].numpy()[0]
  np.testing.assert_array_equal(face, want)
  assert _differ(face, _image(run(z=4, psi=0.5)))
  assert _differ(face, _image(run(z=3, psi=1.0)))
  np.testing.assert_array_equal(
      _image(client.http.post("/api/run/serving_default", json={"z": 3})),
      _image(run(z=3, psi=1.0)))
  _refused(run(z=-1, psi=0.5), 400, "z: a seed is an integer")
  _refused(run(z=2.5, psi=0.5), 400, "z: a seed is an integer")
  _refused(run(z=3, psi=2), 400, "psi: expected 0.0 .. 1.0, got 2")
  _refused(run(z=3), 400, "takes z (the noise's seed), psi (truncation")
  _refused(run(z=models.sketch, psi=0.5), 400, "z: expected a number")
  # Style mixing: 6 styles at 16 px; cutoff 6 is z's own face, 0 is refused.
  assert [(i["field"], i.get("step")) for i in signatures["mix"]["inputs"]
         ] == [("z", None), ("z2", None), ("psi", 0.0), ("cutoff", 1)]
  mix = lambda cutoff: client.http.post("/api/run/mix", json={
      "z": 3, "z2": 4, "psi": 0.5, "cutoff": cutoff})
  # Within 1: another graph, so the float may round the other way.
  assert np.abs(_image(mix(6)).astype(int) - face).max() <= 1
  mixed = _image(mix(3))
  assert _differ(mixed, face) and _differ(mixed, _image(run(z=4, psi=0.5)))
  _refused(mix(0), 400, "cutoff: expected 1 .. 6, got 0")
  _refused(mix(1.5), 400, "cutoff: expected 1 + a multiple of 1, got 1.5")


@pytest.fixture(scope="module")
def clustered(served_models):
  """A pix2pixHD --label_feat export carrying hair (3) and skin (2)
  clusters."""
  return _client(served_models("pix2pixhd_clusters"))


def test_clusters_pick_each_regions_look_as_clusters_draw_does(
    clustered, tmp_path):
  described = clustered.http.get("/api/model").json()["signatures"]
  features = described["label2face_features"]
  assert features["clusters"] == {"hair": 3, "skin": 2}
  assert [i["field"] for i in features["inputs"]] == ["labels"]
  assert "clusters" not in described["serving_default"]
  labels = np.random.default_rng(1).integers(0, LABEL_NC, (SIZE, SIZE),
                                             np.uint8)
  labels[:4] = 13  # Hair across the top.
  path = str(tmp_path / "map.png")
  cv2.imwrite(path, labels)
  # What the server reads from the upload: the same ids.
  np.testing.assert_array_equal(
      labels_lib.read_class_map(path, SIZE, LABEL_NC), labels)
  upload = serve_models.b64(open(path, "rb").read())
  faces = {}
  for chosen, text in (({}, ""), ({"hair": 1}, "hair:1"),
                       ({"hair": 2, "skin": 1}, "hair:2,skin:1")):
    faces[text] = _image(clustered.http.post(
        "/api/run/label2face_features",
        json={"labels": upload, "clusters": chosen}))
    np.testing.assert_array_equal(
        faces[text],
        clusters.draw(labels, text, workdir=clustered.workdir))
  assert _differ(faces[""], faces["hair:1"])
  assert _differ(faces["hair:1"], faces["hair:2,skin:1"])
  # No "clusters" at all: cluster 0 everywhere.
  np.testing.assert_array_equal(faces[""], _image(clustered.http.post(
      "/api/run/label2face_features", json={"labels": upload})))
  run = lambda signature, chosen: clustered.http.post(
      f"/api/run/{signature}", json={"labels": upload, "clusters": chosen})
  assert _refused(run("label2face_features", {"wings": 1}), 400) == (
      "clusters: no clusters for class 'wings'; the run has hair, skin")
  assert _refused(run("label2face_features", {"hair": 3}), 400) == (
      "clusters: hair has clusters 0 to 2, not 3")
  assert _refused(run("label2face_features", {"hair": "x"}), 400) == (
      "clusters: expected {\"class\": index, ...}, got {'hair': 'x'}")
  assert _refused(run("serving_default", {"hair": 1}), 400) == (
      "clusters: the serving_default signature draws no clusters; "
      "label2face_features does")
  _image(run("label2face_features", {"hair": 1}))  # Still serving.


def test_a_model_without_clusters_serves_no_features_signature(clustered):
  served = clustered.served  # model.load(export_dir=clustered.path).
  assert served.centres is not None
  os.rename(os.path.join(clustered.path, "assets"),
            os.path.join(clustered.path, "assets_gone"))
  try:
    bare = model_lib.load(export_dir=clustered.path)
  finally:
    os.rename(os.path.join(clustered.path, "assets_gone"),
              os.path.join(clustered.path, "assets"))
  assert bare.centres is None
  assert "label2face_features" not in bare.fns
  assert "label2face_features" in served.fns
  # s2f-serve --workdir: the run's own centres, the same signature.
  run = model_lib.load(workdir=clustered.workdir)
  assert "label2face_features" in run.fns
  assert {k: v.tolist() for k, v in run.centres.items()} == {
      k: v.tolist() for k, v in served.centres.items()}
