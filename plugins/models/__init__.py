"""Model builders for the ``stillroom_build_model`` hook."""
