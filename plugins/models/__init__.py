"""Model families for the ``stillroom_models`` hook."""
