"""``animegen studio``: a local web app (Gradio) over the latent-space library.

The app logic lives in plain modules that run without a browser:

* :mod:`~animegen.studio.catalog`: which checkpoints a session may open (the bundled model, runs under one folder);
* :mod:`~animegen.studio.uploads`: upload checks (size, type, pixel count) and defensive decoding;
* :mod:`~animegen.studio.reference`: the reference faces of a model (codes, PCA axes, attribute directions);
* :mod:`~animegen.studio.engine`: model operations (generate, variations, morph, blend, edit, inspect);
* :mod:`~animegen.studio.app` / :mod:`~animegen.studio.server`: the Gradio layout and its launch.

Only ``app`` and ``server`` import gradio.
"""
