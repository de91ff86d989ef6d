"""Built-in evaluators for the ``stillroom_evaluators`` hook."""
