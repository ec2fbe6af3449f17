"""s2f-serve: a local web editor over one exported model.

  model   the model loaded once, behind one lock: uploaded image bytes ->
          the signature's outputs, through the task's own file readers
  app     the Starlette app: the page, /api/model, /api/run/<signature>,
          request-size and input checks, one-line JSON errors
  server  uvicorn on a host and port, a line when it listens, a clean stop
  page.html  the editor, one static file, no build step, no CDN

Which editor the page shows follows the inputs a signature declares
(`Task.serving_inputs`: a sketch, a label map, reference photos, a photo),
so nothing here names a model family.
"""
