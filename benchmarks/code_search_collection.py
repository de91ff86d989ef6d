"""Write a real code-search collection in the BEIR layout, from the Python standard library on this machine.

    python benchmarks/code_search_collection.py --out /tmp/stdlib-beir [--queries 600] [--seed 0]
    stillroom run product=search data=beir data.path=/tmp/stdlib-beir 'data.label_map={1: 3}'

No public IR collection can be downloaded here, so this builds one the way
CodeSearchNet (and CoIR's BEIR-format copy of it) was built, from real public
text: each documented function or class of the standard library is a
document (its qualified name as the title, its code without the docstring as
the text), and the first line of its docstring is a query whose one relevant
document is that function (known-item search, qrels score 1). Documented
definitions are split into train, test and unjudged queries (the pool) by a
seeded shuffle; the corpus also holds the undocumented definitions, as
distractors. Nothing here is in the repository: the collection is read from the
interpreter's own ``Lib`` folder.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sysconfig
from pathlib import Path

SKIPPED_PACKAGES = {"test", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip", "site-packages", "__pycache__"}
MAX_CODE_CHARS = 1200


def definitions(stdlib: Path) -> list[dict[str, str]]:
    """Every function and class of the standard library: qualified name, code without its docstring, docstring summary."""
    found: list[dict[str, str]] = []
    for path in sorted(stdlib.rglob("*.py")):
        relative = path.relative_to(stdlib)
        if SKIPPED_PACKAGES & set(relative.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node) or ""
            if doc:
                node.body = node.body[1:] or [ast.Pass()]
            found.append({"name": f"{module}.{node.name}", "code": ast.unparse(node)[:MAX_CODE_CHARS], "summary": doc.strip().split("\n")[0].strip()})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=600, help="documented definitions to ask for (train, test and pool)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    found = definitions(Path(sysconfig.get_paths()["stdlib"]))
    corpus = {f"d{i}": d for i, d in enumerate(found)}
    summaries: dict[str, list[str]] = {}
    for doc_id, d in corpus.items():
        if len(d["summary"].split()) >= 4:
            summaries.setdefault(d["summary"], []).append(doc_id)
    askable = sorted((summary, ids[0]) for summary, ids in summaries.items() if len(ids) == 1)  # one right answer each
    random.Random(args.seed).shuffle(askable)
    chosen = askable[: args.queries]
    train, test = chosen[: len(chosen) * 2 // 5], chosen[len(chosen) * 2 // 5 : len(chosen) * 4 // 5]

    args.out.mkdir(parents=True, exist_ok=False)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, d in corpus.items():
            out.write(json.dumps({"_id": doc_id, "title": d["name"], "text": d["code"]}) + "\n")
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as out:
        for index, (summary, _) in enumerate(chosen):
            out.write(json.dumps({"_id": f"q{index}", "text": summary}) + "\n")
    (args.out / "qrels").mkdir()
    query_id = {summary: f"q{index}" for index, (summary, _) in enumerate(chosen)}
    for split, pairs in (("train", train), ("test", test)):
        rows = ["query-id\tcorpus-id\tscore", *(f"{query_id[summary]}\t{doc_id}\t1" for summary, doc_id in pairs)]
        (args.out / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    unjudged = len(chosen) - len(train) - len(test)
    print(f"{args.out}: {len(corpus)} documents, {len(chosen)} queries ({len(train)} train, {len(test)} test, {unjudged} unjudged)")


if __name__ == "__main__":
    main()
