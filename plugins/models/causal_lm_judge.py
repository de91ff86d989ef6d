"""A judge that asks a causal LM whether a candidate is relevant and reads P("yes") from its next token.

This is how LinkedIn's judge and students score: the prompt quotes the policy,
the precedents nearest the pair and the pair itself, and the score is the
probability of "yes" as the next token. The policy's scale has more than two
grades, so the yes/no log-odds ``m`` feed an ordinal (cumulative-logit) head
with learned cut points ``t_1 < t_2 < ...``: ``P(label >= k) = sigmoid(m - t_k)``.
Ranking by the expected grade therefore ranks exactly as P("yes") does, and
the gate can still read a label off the scale. Fine-tuning trains a LoRA
adapter (peft) and the cut points.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import PreTrainedTokenizerBase

from stillroom.plugins.models.adapters import has_adapter
from stillroom.plugins.models.ordinal import OrdinalHead
from stillroom.plugins.models.prompting import PromptTemplate

JUDGE_CONFIG_FILE = "stillroom_judge.json"
HEAD_FILE = "ordinal_head.safetensors"


class CausalLMJudge(torch.nn.Module):
    """A :class:`~stillroom.ranker.Ranker` over prompts: one forward pass, the last token's yes/no logits."""

    def __init__(
        self,
        lm: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        prompt: PromptTemplate,
        answer_ids: dict[str, list[int]],
        max_length: int,
        num_labels: int,
        chat_template: bool,
    ) -> None:
        super().__init__()
        self.lm = lm
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.answer_ids = answer_ids
        self.max_length = max_length
        self.num_labels = num_labels
        self.chat_template = chat_template
        self.head = OrdinalHead(num_labels)
        # The pair sits at the end of the prompt and the answer comes after it: pad and cut on the left.
        tokenizer.padding_side = "left"
        tokenizer.truncation_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    def prompt_text(self, request: str, candidate: str) -> str:
        text = self.prompt.render(request, candidate)
        if not self.chat_template:
            return text
        return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)

    def tokenize(self, requests: Sequence[str], candidates: Sequence[str]) -> dict[str, torch.Tensor]:
        prompts = [self.prompt_text(r, c) for r, c in zip(requests, candidates, strict=True)]
        encoded = self.tokenizer(
            prompts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt", add_special_tokens=not self.chat_template
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def yes_log_odds(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """log P("yes") - log P("no") for the next token, over every spelling of each answer."""
        position_ids = (attention_mask.cumsum(-1) - 1).clamp_min(0)  # left padding: real tokens start at 0
        logits = self.lm(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, logits_to_keep=1).logits[:, -1]
        log_probs = logits.float().log_softmax(-1)
        yes = log_probs[:, self.answer_ids["yes"]].logsumexp(-1)
        no = log_probs[:, self.answer_ids["no"]].logsumexp(-1)
        return yes - no

    def p_yes(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """P("yes" | the answer is yes or no): the score LinkedIn's judges rank by."""
        return torch.sigmoid(self.yes_log_odds(input_ids, attention_mask))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        return self.head(self.yes_log_odds(input_ids, attention_mask))

    def for_inference(self) -> CausalLMJudge:
        """A copy with the LoRA adapter folded into the weights: the same scores, one matmul per layer."""
        if not has_adapter(self.lm):
            return self
        folded = copy.copy(self)
        folded._modules = dict(self._modules)
        folded.lm = copy.deepcopy(self.lm).merge_and_unload()
        return folded

    def save_pretrained(self, directory: Path) -> None:
        """The merged LM and tokenizer as a transformers folder, plus the head, the answers and the prompt."""
        directory = Path(directory)
        lm = self.for_inference().lm
        lm.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        save_file({k: v.detach().contiguous() for k, v in self.head.state_dict().items()}, str(directory / HEAD_FILE))
        (directory / "prompt.j2").write_text(self.prompt.path.read_text(encoding="utf-8"), encoding="utf-8")
        settings: dict[str, Any] = {
            "answer_ids": self.answer_ids,
            "max_length": self.max_length,
            "num_labels": self.num_labels,
            "chat_template": self.chat_template,
        }
        (directory / JUDGE_CONFIG_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")
