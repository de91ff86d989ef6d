"""The judge's prompt: the product's template, the policy it quotes, and the precedents nearest the pair.

The template is a Jinja2 file the product owns, rendered in Jinja2's immutable
sandbox (a template can read the policy, never change it or reach Python).
It receives:

* ``policy``: the :class:`~stillroom.policy.Policy`; ``policy.section("Hard
  rules")`` quotes a part of its prose, ``policy.labels`` its scale;
* ``precedents``: the policy's precedents most like this pair (BM25 over their
  text), each with ``request``, ``candidate``, ``label``, ``label_name`` and
  ``why``;
* ``request`` and ``candidate``: the pair's texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.retrieval import Bm25Index
from stillroom.policy import Policy


def _compiled(path: Path) -> Any:
    """The template in ``path``, compiled in a sandbox that refuses undefined names."""
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
    try:
        return environment.from_string(path.read_text(encoding="utf-8"))
    except TemplateError as exc:
        raise StillroomError(f"prompt template does not parse: {exc}", where=f"{path}:{getattr(exc, 'lineno', '?')}") from None


class PromptTemplate:
    """Renders one prompt per pair; picks the precedents to quote with BM25 (``bm25s``)."""

    def __init__(self, path: Path, policy: Policy, precedents: Sequence[Pair], n_precedents: int) -> None:
        self.path = path
        self.policy = policy
        self.template = _compiled(path)
        self.precedents = [
            {
                "request": p.request_text,
                "candidate": p.candidate_text,
                "label": p.label,
                "label_name": policy.label_name(int(p.label)),
                "why": policy.precedents[i].why,
            }
            for i, p in enumerate(precedents)
        ]
        self.n_precedents = min(n_precedents, len(self.precedents))
        self.index = None
        if self.n_precedents:
            self.index = Bm25Index([f"{p['request']} {p['candidate']}" for p in self.precedents])

    def __getstate__(self) -> dict[str, Any]:
        """A compiled template does not pickle (a spawned worker gets the judge pickled): it is compiled again there."""
        return {**self.__dict__, "template": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.template = _compiled(self.path)

    def nearest_precedents(self, request: str, candidate: str) -> list[dict[str, Any]]:
        """The precedents most like this pair, never the pair itself: scoring a precedent must not quote its answer."""
        if self.index is None:
            return []
        k = min(self.n_precedents + 1, len(self.precedents))
        nearest = [self.precedents[i] for i in self.index.top([f"{request} {candidate}"], k)[0]]
        return [p for p in nearest if (p["request"], p["candidate"]) != (request, candidate)][: self.n_precedents]

    def render(self, request: str, candidate: str) -> str:
        try:
            return self.template.render(
                policy=self.policy, precedents=self.nearest_precedents(request, candidate), request=request, candidate=candidate
            ).strip()
        except (TemplateError, KeyError) as exc:
            raise StillroomError(f"prompt template failed to render: {exc}", where=str(self.path)) from None
