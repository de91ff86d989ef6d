"""The ``stillroom`` command: ``run`` (the Hydra app), ``score``, ``policy check|diff``, ``plugins``, ``sweep-report`` and ``new product``."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from stillroom import __version__
from stillroom.config.products import known_products
from stillroom.errors import USAGE_EXIT_CODE, StillroomDeprecationWarning, StillroomError, report_error
from stillroom.plugin_manager import DISABLE_PLUGINS_ENV, Plugins, get_plugin_manager

OFFLINE_DEFAULTS = {"HF_HUB_OFFLINE": "1"}
"""Nothing reaches the Hugging Face hub at run time unless the user sets otherwise (wandb: logger.mode)."""


VERBOSE_FLAGS, VERBOSE_OVERRIDE = ("-v", "--verbose"), "verbose=true"
"""``stillroom run -v`` keeps the libraries' own output (:mod:`stillroom.recipe.quiet`)."""


def _deprecations_as_lines() -> None:
    """stillroom's own deprecation warnings as ``stillroom: warning:`` lines, shown even where the libraries' are kept
    quiet: each says what to write instead."""
    warnings.filterwarnings("default", category=StillroomDeprecationWarning)
    plain = warnings.formatwarning
    if getattr(plain, "stillroom_lines", False):  # once per process, however many commands run in it
        return

    def formatted(message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
        if issubclass(category, StillroomDeprecationWarning):
            return f"stillroom: warning: {message}\n"
        return plain(message, category, filename, lineno, line)

    formatted.stillroom_lines = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatted


def run_command(args: Sequence[str]) -> int:
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from stillroom.cli.app import hydra_main  # Hydra and torch load only for `run`
    from stillroom.cli.overrides import check_overrides
    from stillroom.config.renamed import renamed_overrides
    from stillroom.config.search_path import register as register_plugin_configs

    plugins = get_plugin_manager()
    for failed in plugins.failed:
        print(f"stillroom: warning: plugin {failed.name!r} ({failed.source}) failed to load: {failed.error}", file=sys.stderr)
    register_plugin_configs()
    args = renamed_overrides([VERBOSE_OVERRIDE if arg in VERBOSE_FLAGS else arg for arg in args])
    check_overrides(plugins, args)
    sys.argv = ["stillroom run", *args]
    hydra_main()
    return 0


def plugins_command() -> int:
    """Print every plugin with its version and the hooks it implements."""
    manager = get_plugin_manager()
    for name, plugin in manager.pm.list_name_plugin():
        if plugin is None:
            print(f"{name}  [disabled: {DISABLE_PLUGINS_ENV}]")
            continue
        dist = manager.distributions.get(name)
        version = _dist_version(dist) if dist else f"stillroom {__version__} (built-in)"
        hooks = sorted(impl.name for impl in manager.pm.get_hookcallers(plugin) or [])
        print(f"{name}  [{version}]")
        print(f"    hooks: {', '.join(hooks) if hooks else '-'}")
    for failed in manager.failed:
        print(f"{failed.name}  [FAILED to load: {failed.source}]")
        print(f"    error: {failed.error}")
    for kind, names in component_names(manager).items():
        print(f"{kind}: {', '.join(names) or '-'}")
    return 0


def component_names(manager: Plugins) -> dict[str, list[str]]:
    """The named components the plugins contribute, as a config names them (a data source with the products it serves)."""
    from stillroom.data import data_source_names
    from stillroom.evaluation import available_evaluators
    from stillroom.losses import available_losses
    from stillroom.ranker import available_models

    return {
        "models": sorted(available_models(manager)),
        "data sources": data_source_names(manager),
        "losses": sorted(available_losses(manager)),
        "evaluators": sorted(available_evaluators(manager)),
    }


def _dist_version(dist: str) -> str:
    from importlib.metadata import version

    return f"{dist} {version(dist)}"


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stillroom", description="Turn a product policy into a small, fast ranking model.")
    parser.add_argument("--version", action="version", version=f"stillroom {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the recipe (Hydra overrides follow, -m for multirun, -v for the libraries' own logs)", add_help=False)
    score = commands.add_parser("score", help="score the pairs of a JSONL file with an exported student (torch or onnxruntime)")
    score.add_argument("--model", type=Path, required=True, metavar="DIR", help="the exported student (RUN_DIR/export/student)")
    score.add_argument("--input", type=Path, required=True, metavar="FILE.jsonl", help="one pair per line: request_text, candidate_text")
    score.add_argument("--output", type=Path, required=True, metavar="FILE.jsonl", help="each input row with its score and probs")
    score.add_argument("--backend", choices=("torch", "onnxruntime"), default="onnxruntime", help="what runs the model (default: onnxruntime)")
    score.add_argument("--batch-size", type=_positive, default=64, metavar="N", help="pairs per forward pass (default: 64)")
    score.add_argument(
        "--policy", metavar="FILE", help="serve as this policy's hard rules say (rows' request and candidate fields): served, breaks, served_score"
    )
    commands.add_parser("plugins", help="list every plugin, its version and its hooks, and the models, data sources, losses and evaluators they give")
    policy = commands.add_parser("policy", help="validate a policy document or compare two versions")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser("check", help="validate FILE and print its summary (exit 2 when invalid)")
    check.add_argument("file", help="a policy file, or package.module:file.md for one shipped in a package")
    diff = policy_commands.add_parser("diff", help="what changed from OLD to NEW, label by label and rule by rule")
    diff.add_argument("old")
    diff.add_argument("new")
    sweep = commands.add_parser("sweep-report", help="one table (Markdown, CSV) and a Pareto plot for a multirun folder")
    sweep.add_argument("folder", type=Path, metavar="DIR", help="the multirun folder (hydra.sweep.dir)")
    new = commands.add_parser("new", help="scaffold a plugin package from a template")
    kinds = new.add_subparsers(dest="kind", required=True)
    product = kinds.add_parser("product", help="an installable product plugin: policy, world, configs, tests (DIR/stillroom-NAME)")
    product.add_argument("name", metavar="NAME", help="the product's name, a lower-case Python identifier")
    product.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="the folder to create stillroom-NAME in (default: here)")
    return parser


def score_command(model: Path, input_path: Path, output_path: Path, backend: str, batch_size: int, policy: str | None = None) -> int:
    """Score the pairs of a JSONL file with an exported student; see :func:`stillroom.serving.score.score_file`."""
    from stillroom.serving.score import score_file

    for name, value in {**OFFLINE_DEFAULTS, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}.items():
        os.environ.setdefault(name, value)
    plugins = get_plugin_manager()
    rules = None
    if policy is not None:
        from stillroom.policy.source import load_policy

        rules = load_policy(policy, plugins, where="--policy")
    count = score_file(model, input_path, output_path, backend, plugins, batch_size, rules)
    print(f"scored {count} pairs with {backend}: {output_path}")
    return 0


def sweep_report_command(folder: Path) -> int:
    from stillroom.cli.sweep_report import pareto_front, read_sweep, write_sweep_report

    jobs = read_sweep(folder)
    written = write_sweep_report(folder, jobs)
    front = ", ".join(job.name for job in pareto_front(jobs)) or "none"
    print(f"{len(jobs)} jobs, {sum(job.finished for job in jobs)} with a report; Pareto front: {front}")
    for path in written:
        print(f"    {path}")
    return 0


def new_product_command(name: str, out: Path) -> int:
    from stillroom.cli.scaffold import new_product

    target, made = new_product(name, out, known_products(get_plugin_manager()))
    print(f"made {target} ({len(made)} files):")
    for path in made:
        print(f"    {path}")
    print(f"next: pip install -e '{target}[test]' && stillroom run product={name} && pytest {target}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _deprecations_as_lines()  # a plugin or config of the previous API is named as every command loads it
    try:
        if argv and argv[0] == "run":
            return run_command(argv[1:])
        args = build_parser().parse_args(argv)
        if args.command == "score":
            return score_command(args.model, args.input, args.output, args.backend, args.batch_size, args.policy)
        if args.command == "plugins":
            return plugins_command()
        if args.command == "policy":
            from stillroom.cli.policy_commands import check_command, diff_command

            return check_command(args.file) if args.policy_command == "check" else diff_command(args.old, args.new)
        if args.command == "sweep-report":
            return sweep_report_command(args.folder)
        if args.command == "new":
            return new_product_command(args.name, args.out)
    except StillroomError as error:
        report_error(error)
        return USAGE_EXIT_CODE
    return 0

