"""s2f-serve: a local web editor over one exported model.

  model   the model loaded once, behind one lock: uploaded image bytes (or
          numbers) -> the signature's outputs, through the task's readers
  app     the Starlette app: the page, /api/model, /api/run/<signature>,
          request-size and input checks, one-line JSON errors
  server  uvicorn on a host and port, a line when it listens, a clean stop
  launch  s2f-serve in a child process, for tests and tools
  page.html  the editor, one static file, no build step, no CDN

Which editor the page shows follows the inputs a signature declares
(`Task.serving_inputs`: a sketch, a label map, reference photos, a photo;
`Task.serving_values`: a noise seed, psi), so nothing here names a model
family.
"""
