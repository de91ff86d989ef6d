"""stillroom's Hydra config tree, read with ``config_path="pkg://stillroom.conf"``."""
