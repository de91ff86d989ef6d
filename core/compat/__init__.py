"""Every use of a dependency's private API, behind one door: one module per library.

Each function and class here leans on something a library does not promise to keep:
a private class, method or registry, or the text format of an error. Nothing
else in stillroom touches those, so a new release that moves one breaks here
and in ``tests/test_compat.py``, which exercises each of them, not somewhere
deep in a run. ``pyproject.toml`` bounds the versions of the libraries named here.

- :mod:`.hydra`: :func:`split_sweep` (``BasicSweeper.split_arguments``) and :func:`merge_order` (``create_defaults_list`` and
  its ``ResultDefault`` entries, over the repository the config loader's ``_parse_overrides_and_create_caching_repo``
  builds, which sees a ``hydra.searchpath`` override's folders).
- :mod:`.lightning`: :class:`SpawnedFSDP` (``_MultiProcessingLauncher``, a strategy's ``_configure_launcher``) and
  :class:`EpochsCountedFromOne` (the rich progress bar's ``_get_train_description``).
- :mod:`.torch`: :class:`DropsCachesWhenMoved` (``Module._apply``, ``Module._load_from_state_dict``) and
  :func:`worker_exception` (the traceback text ``torch.multiprocessing`` sends back from a worker).
- :mod:`.transformers`: :func:`drop_recording_hooks` and :func:`register_recording` (its hidden-state recording hooks and registry).
"""
