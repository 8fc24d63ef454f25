"""The HTTP service: serve model files (classifiers and extractors) over HTTP, batched.

``settings`` (the one home of the limits, shared with the command line) imports nothing
heavy, so that ``visionfeatures serve --help`` answers at once; the app lives in
:mod:`pipelines.serve.app` (``create_app(models, settings)``), the models it serves in
:mod:`pipelines.serve.models`, the micro-batcher in :mod:`pipelines.serve.batching`.
"""
