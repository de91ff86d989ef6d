"""core/ names no product, model family or loss: it asks the plugin manager."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

CORE = Path(__file__).resolve().parents[1] / "core"
FORBIDDEN_PACKAGES = ("stillroom.plugins", "stillroom.products")
# Product names as values ("jobs" also means Hydra jobs in prose), model families and loss names anywhere.
FORBIDDEN_WORDS = re.compile(
    r"""["'](jobs|feed|search)["']|\b(minilm\w*|bert\w*|llama\w*|smollm\w*|soft_label_kl|hard_label_ce|margin_mse|ranknet|listnet)\b""",
    re.IGNORECASE,
)


def test_core_modules_import_no_plugin_or_product() -> None:
    graph = grimp.build_graph("stillroom")
    core_modules = {m for m in graph.modules if not m.startswith(FORBIDDEN_PACKAGES)}
    offenders = {
        (module, imported)
        for module in core_modules
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith(FORBIDDEN_PACKAGES)
    }
    assert not offenders


def test_core_source_names_no_product_model_family_or_loss() -> None:
    hits = []
    for path in sorted(CORE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(('"stillroom.plugins.', "'stillroom.plugins.")):
                continue  # DEFAULT_PLUGINS names built-in plugin modules by path, as datasette does
            if FORBIDDEN_WORDS.search(line):
                hits.append(f"{path.name}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)
