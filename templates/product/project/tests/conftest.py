"""stillroom's testing fixtures: ``stillroom_plugin`` (register a plugin for one test) and ``tiny_recipe`` (run the
whole recipe of a product, tiny, in the test's temporary folder, and return its report)."""

pytest_plugins = ["stillroom.testing"]
