"""Product plugins that ship with stillroom: each one a policy, a data source and its defaults."""
