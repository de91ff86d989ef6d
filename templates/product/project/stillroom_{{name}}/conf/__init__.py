"""Hydra configs this package ships; ``plugin.stillroom_config_searchpath`` adds them to stillroom's search path."""
