"""Built-in baselines that belong to no model family (``zero_shot`` comes with each model plugin)."""
