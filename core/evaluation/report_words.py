"""report.md: the report's figures for people, every claim with its interval and its verdict in words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.evaluation.significance import BETTER, WORSE, interval_text
from stillroom.evaluation.verdict import export_withheld, points, verdict_line
from stillroom.policy.gate import describe_gate

ROLES = ("judge", "teacher", "engagement_teacher", "student")
"""Report names that are the recipe's own models: "the student", where a baseline is just its name."""
GLOSSES = {
    ("student", "student_no_kd"): "What distillation adds",
    ("student", "teacher"): "What the student gives up",
}


def table_metrics(report: Mapping[str, Any]) -> list[str]:
    """The table's columns: the standard figures at the report's k, then any other figure a model has."""
    k = report["k"]
    standard = [f"ndcg@{k}", f"mrr@{k}", "map", "auc", "kappa", f"violation_rate@{k}"]
    others = sorted({m for result in report["models"].values() for m in result["metrics"]} - set(standard))
    return standard + others


def _cell(value: float | None, spec: str) -> str:
    """A table cell; a dash where the figure does not apply (a baseline has no labels, and most are not timed)."""
    return "—" if value is None else format(value, spec)


def _with_interval(result: Mapping[str, Any], metric: str) -> str:
    value = result["metrics"].get(metric)
    interval = result.get("ci", {}).get(metric)
    if value is None or interval is None:
        return _cell(value, ".4f")
    return f"{value:.4f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def comparison_table(report: Mapping[str, Any]) -> str:
    """The Markdown table the run prints at the end and report.md opens with: test figures with their intervals."""
    metrics = table_metrics(report)
    header = "| model | params | pairs/s | " + " | ".join(metrics) + " |"
    lines = [header, "|" + "---|" * (3 + len(metrics))]
    for name, result in report["models"].items():
        cells = [_with_interval(result, m) for m in metrics]
        lines.append(f"| {name} | {result['params']:,} | {_cell(result['throughput_pairs_per_s'], ',.0f')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _who(name: str) -> str:
    return f"the {name}" if name in ROLES else f"**{name}**"


def _p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def verdict_sentence(comparison: Mapping[str, Any], alpha: float = 0.05) -> str:
    """One comparison in words: "the student beats zero_shot by 0.040 ndcg@10 [0.010, 0.070] (p = 0.004)". Where the
    interval excludes 0 but the randomization test's p is above ``alpha``, the sentence says the two tests disagree
    (a borderline difference), rather than print a verdict beside a p-value that seems to deny it."""
    a, b, metric = _who(comparison["a"]), _who(comparison["b"]), comparison["metric"]
    difference = comparison["difference"]
    borderline = comparison["verdict"] in (BETTER, WORSE) and comparison["p_value"] > alpha
    doubt = f"; the interval excludes 0 but the randomization test does not reach p < {alpha:g}: a borderline difference" if borderline else ""
    interval = f"{interval_text(comparison['ci'])} ({_p(comparison['p_value'])}{doubt})"
    if comparison["verdict"] == BETTER:
        said = f"{a} beats {b} by {abs(difference):.3f} {metric} {interval}"
    elif comparison["verdict"] == WORSE:
        said = f"{a} trails {b} by {abs(difference):.3f} {metric} {interval}"
    else:
        said = f"{a} and {b} differ by {difference:+.3f} {metric} {interval}: not resolved on {comparison['requests']} requests"
    gloss = GLOSSES.get((comparison["a"], comparison["b"]))
    return f"**{gloss}**: {said}." if gloss else f"{said[0].upper()}{said[1:]}."


def verdicts(report: Mapping[str, Any]) -> str:
    """The primary metric's comparisons as sentences, one per line."""
    primary = [c for c in report["comparisons"] if c["metric"] == report["primary_metric"]]
    alpha = 1 - report["intervals"]["confidence"]
    return "\n".join(f"- {verdict_sentence(c, alpha)}" for c in primary) or "No comparisons (evaluator.comparisons is empty)."


def comparisons_table(report: Mapping[str, Any]) -> str:
    """Every comparison of every per-request metric: ``a - b``, its paired interval, p-value and verdict."""
    lines = ["| a | b | metric | a − b | interval | p | verdict |", "|---|---|---|---|---|---|---|"]
    for c in report["comparisons"]:
        lines.append(
            f"| {c['a']} | {c['b']} | {c['metric']} | {c['difference']:+.4f} | {interval_text(c['ci'])} "
            f"| {c['p_value']:.4f} | {c['verdict']} |"
        )
    return "\n".join(lines)


def splits_sentence(report: Mapping[str, Any]) -> str:
    requests = report["requests"]
    confidence = f"{report['intervals']['confidence']:.0%}"
    sentence = (
        f"Every figure in the table is on **golden test** ({requests['test']} requests), a mean over its requests, with its "
        f"{confidence} bootstrap interval over requests in brackets. A comparison is paired: both models on the same "
        "requests, the interval on their difference; it is *not resolved* when that interval holds zero, that is when "
        "this test set cannot tell the two models apart."
    )
    goal = report["objective"]
    if goal["value"] is not None:
        sentence += (
            f" Choices (sweeps, early stopping, the best epoch) are made on **golden dev** ({requests.get('dev', 0)} requests): "
            f"the {goal['model']}'s {goal['metric']} there is {goal['value']:.4f}; test is reported, never optimised."
        )
    if (report.get("compliance") or {}).get("hard_rules") == "policy":
        sentence += (
            " Every model and baseline is ranked **as served with the policy's hard rules applied** (`serving.hard_rules:"
            " policy`): a candidate that breaks a rule is demoted below every compliant one of its request, or left out where"
            " the rule says `served: filter`."
        )
    return sentence


def first_stage_sentence(report: Mapping[str, Any]) -> str:
    stage = report.get("first_stage")
    if not stage:
        return ""
    return (
        f"\nCandidates are {stage['name']}'s top {stage['k']} per request, as in production; it finds "
        f"{stage['recall@k']:.1%} of the test requests' judged relevant documents (recall@{stage['k']}), the ceiling "
        "every reranker here works under.\n"
    )


def _cached_note(report: Mapping[str, Any]) -> str:
    cached = [name for name, result in report["models"].items() if result.get("candidates_cached")]
    if not cached:
        return ""
    return (
        f"\nThroughput of {', '.join(cached)} is measured as it serves: each candidate's side is computed once and "
        "cached, each request is encoded once per call, and a pair costs only what the model does with the two sides."
    )


def _gate_sentence(report: Mapping[str, Any]) -> str:
    if not report.get("gate"):
        return ""
    sentence = describe_gate(report["gate"])
    return f"{sentence[0].upper()}{sentence[1:]}."


def violations_table(report: Mapping[str, Any]) -> str:
    """Each hard rule with the number of top-k slots, per model, that hold a candidate breaking it."""
    key = f"violations_by_rule@{report['k']}"
    by_model = {name: result["details"][key] for name, result in report["models"].items() if key in result.get("details", {})}
    if not by_model:
        return ""
    rules = sorted({rule for counts in by_model.values() for rule in counts})
    slots = f"top-{report['k']} slots breaking it"
    lines = ["| rule | " + " | ".join(f"{name}: {slots}" for name in by_model) + " |", "|" + "---|" * (1 + len(by_model))]
    lines += [f"| {rule} | " + " | ".join(str(counts.get(rule, 0)) for counts in by_model.values()) + " |" for rule in rules]
    return "\n".join(lines)


def not_applicable_sentence(report: Mapping[str, Any]) -> str:
    """The hard rules this data cannot be checked against, and the fields they read that it lacks."""
    found = next((r["details"]["rules_not_applicable"] for r in report["models"].values() if r.get("details", {}).get("rules_not_applicable")), {})
    if not found:
        return ""
    rules = "; ".join(f"`{rule}` (reads {', '.join(fields)})" for rule, fields in found.items())
    return f"\nNot applicable to this data, which lacks the fields they read: {rules}."


def checked_rules(compliance: Mapping[str, Any]) -> str:
    """The hard rules the check measured: "`a`, `b`" (the rules the data can be checked on)."""
    return ", ".join(f"`{rule}`" for rule in compliance.get("rules_checked") or ()) or "none"


def compliance_sentence(report: Mapping[str, Any]) -> str:
    """What the compliance check found and which rules it checked, with the rate no ranking of these slates can go
    below; that it did not run, and why, when it did not."""
    compliance = report.get("compliance")
    if not compliance or not compliance.get("checked"):
        compliance = compliance or {}
        why = compliance.get("note") or "no compliance stage"
        return f"The compliance check was **not checked** ({why}): nothing here says the student follows the hard rules."
    k, rate = report["k"], compliance["rate"]
    said = f"Checked against the hard rules {checked_rules(compliance)}: the student puts a rule-breaking candidate in **{rate:.1%}**"
    said += f" of its top-{k} slots"
    versus = compliance.get("against_teacher")
    if versus:
        low, high = versus["ci"]
        said += f", {points(versus['difference'])} [{low * 100:+.1f}, {high * 100:+.1f}] against its teacher"
    if compliance.get("max_violation_rate") is not None:
        said += f"; the bound is {compliance['max_violation_rate']:.1%} ({compliance['bound_from']})"
    said += ". " + ("It passes the compliance check." if compliance["passed"] else f"It fails the compliance check: {compliance['reason']}.")
    if alone := compliance.get("alone"):
        teacher = f", its teacher's {alone['teacher_rate']:.1%}" if alone.get("teacher_rate") is not None else ""
        said += (
            f" These are the rates as served with the policy's hard rules applied (serving.hard_rules: policy: a rule breaker is"
            f" demoted below every compliant candidate, or filtered, as its rule says), and every figure of this report ranks every"
            f" model and baseline so; ranked alone, the student's rate is {alone['rate']:.1%}{teacher}."
        )
    if compliance.get("floor") is not None:
        said += f" Some slates hold fewer than {k} candidates that break no rule, so no ranking of them goes below {compliance['floor']:.1%}."
    return said


def compliance_line(report: Mapping[str, Any]) -> str:
    """The compliance check in one console line: passed or failed on which rules, or not checked and why."""
    compliance = report.get("compliance") or {}
    if not compliance.get("checked"):
        return f"compliance: not checked: {compliance.get('note') or 'no compliance stage'}"
    rules = checked_rules(compliance).replace("`", "")
    rate = f"{compliance['rate']:.1%} of top-{report['k']} slots break a rule"
    if compliance.get("floor"):
        rate += f"; no ranking of these slates goes below {compliance['floor']:.1%}"
    if compliance["passed"]:
        return f"compliance: passed on rules {rules} ({rate})"
    return f"compliance: FAILED on rules {rules}: {compliance['reason']}"


def shipping_section(report: Mapping[str, Any]) -> str:
    """Where the student to ship is and the command that scores with it (run from the run folder)."""
    exported = report.get("exported")
    if not exported:
        withheld = export_withheld(report.get("compliance"))
        return "Nothing: the compliance check withheld the student from export (compliance.mode=fail)." if withheld else "Nothing was exported."
    folder, onnx = exported["folder"], exported["onnx"]
    files = "weights (safetensors), tokenizer and model card (`README.md`)" + (", and `model.onnx` for onnxruntime" if onnx else "")
    served = (report.get("compliance") or {}).get("hard_rules") == "policy"
    then = (
        "\n\nServe it with the policy's hard rules applied, as this report ranks it: rank by `served_score` and leave out the"
        " rows whose `served` is `filtered` (each row needs its `request` and `candidate` fields)."
        if served
        else ""
    )
    return (
        f"`{folder}/` holds the student: {files}. Score a JSONL file of `request_text`/`candidate_text` pairs with it, from"
        f" this run's folder (the one that holds `report/`):\n\n```bash\n{score_command(report, folder)}\n```{then}"
    )


def score_command(report: Mapping[str, Any], model_folder: str) -> str:
    """The command that scores new pairs with the exported student in ``model_folder``, as this run measured it."""
    backend = "" if report["exported"]["onnx"] else " --backend torch"
    served = (report.get("compliance") or {}).get("hard_rules") == "policy"
    rules = f" --policy {report['policy']['source']}" if served else ""
    return f"stillroom score --model {model_folder} --input pairs.jsonl --output scores.jsonl{backend}{rules}"


def next_section(report: Mapping[str, Any]) -> str:
    """A "do not ship" report's second section, in place of what to ship: what to try next."""
    steps = "\n".join(f"- {step}" for step in report["verdict"]["next"]) or "- Nothing the run measured points one way."
    exported = report.get("exported")
    if exported:
        where = (
            f"The student is in `{exported['folder']}/` for inspection (`{score_command(report, exported['folder'])}` from this"
            " run's folder); the verdict says not to serve it."
        )
    else:
        where = shipping_section(report)
    return f"## What to try next\n\n{steps}\n\n{where}"


def decision_section(report: Mapping[str, Any]) -> str:
    """What to ship when the verdict says ship; what to try next when it does not."""
    if report["verdict"]["ship"]:
        return f"## What to ship\n\n{shipping_section(report)}"
    return next_section(report)


def test_set_sentence(report: Mapping[str, Any]) -> str:
    requests, pairs = report["requests"]["test"], report.get("pairs", {}).get("test")
    counted = f"{requests} requests" + (f" ({pairs:,} pairs)" if pairs else "")
    small = " That is small: differences inside the intervals below are noise, not findings." if requests < 300 else ""
    notes = "".join(f" {note}" for note in report.get("data_notes") or ())
    return f"Golden test has {counted}.{small}{notes}"


GLOSSARY = {
    "golden test / dev": "pairs labeled under the policy and never trained on; test is reported, dev makes the choices (epochs, sweeps)",
    "ndcg@k": "how well the top k is ordered by the golden labels, 1 at best",
    "mrr@k, map, auc": "where the first relevant candidate lands; average precision; how often a relevant candidate outranks a non-relevant one",
    "kappa": "quadratic Cohen's kappa of a model's labels against the golden labels (1 agrees fully, 0 is chance)",
    "violation_rate@k": "the share of top-k slots that hold a candidate breaking one of the policy's hard rules (lower is better)",
    "precedents": "the policy's worked examples; the labeler must label each one as the policy does",
    "zero_shot, bm25, hybrid": "the free models to beat: the base model of the served size untrained, BM25 word matching, and "
    "the two fused with weights chosen on golden dev",
    "teacher_base": "a bigger teacher's own base model untrained: a reference for what its size adds, not a rival the verdict counts",
    "student_no_kd": "the same student trained on the golden labels alone, without the teacher: what distillation adds",
    "[low, high]": "a {confidence} bootstrap interval over test requests; a comparison's interval is paired (both models on the same requests)",
}
"""The words report.md uses that a reader may not know, each in one line."""


def glossary(report: Mapping[str, Any]) -> str:
    confidence = f"{report['intervals']['confidence']:.0%}"
    return "\n".join(f"- **{term}**: {meaning.format(confidence=confidence)}." for term, meaning in GLOSSARY.items())


def report_markdown(report: Mapping[str, Any]) -> str:
    metric = report["primary_metric"]
    return f"""# {report["product"]}: stillroom report

{verdict_line(report["verdict"])}

{decision_section(report)}

Policy version **{report["policy"]["version"]}** (sha256 `{report["policy"]["sha256"]}`), seed {report["seed"]}. {test_set_sentence(report)}

{_gate_sentence(report)}

## The figures

{comparison_table(report)}

{splits_sentence(report)}
{first_stage_sentence(report)}
## What the figures say ({metric})

{verdicts(report)}

The student keeps **{report[f"retained_{metric}"]:.1%}** of the teacher's {metric} at **{report["speedup"]:.1f}x** its throughput.
{_cached_note(report)}

![quality against throughput](quality_vs_throughput.png)

## Hard-rule violations in each model's top {report["k"]} on golden test

{compliance_sentence(report)}

{violations_table(report) or "No rule was counted."}
{not_applicable_sentence(report)}

## Every comparison

{comparisons_table(report)}

## Training curves

![training curves](training_curves.png)

## Glossary

{glossary(report)}
"""
