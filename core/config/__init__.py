"""The run config: the schemas that check it, the config folders products ship, and the files a config names."""
