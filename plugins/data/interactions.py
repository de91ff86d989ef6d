"""``data=interactions data.path=DIR``: an impressions log in the MIND layout, as the pool and the engagement log.

The folder holds ``news.tsv`` (news id, category, subcategory, title,
abstract, URL, title entities, abstract entities; no header) and
``behaviors.tsv`` (impression id, user id, time, history as space-separated
news ids, impressions as ``N123-1`` clicked or ``N123-0`` shown). Each
impression is a request: the user with their reading history. Each news item
it showed is a candidate, an unlabeled pair of the pool the teacher labels,
and a row of the engagement log (``viewed``, and ``clicked`` when it was).

A log holds no policy labels: the golden set comes from ``data.golden``, a
JSONL file of labeled pairs in the ``data=jsonl`` schema (labeled for the
product's policy by its annotators).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillroom import hookimpl
from stillroom.data import DataBundle, DataSourceSpec, Pair
from stillroom.errors import StillroomError
from stillroom.plugins.data.jsonl import read_jsonl_pairs
from stillroom.plugins.data.splits import seeded_subset
from stillroom.policy import Policy
from stillroom.reading import data_error, tsv_rows

NAME = "interactions"
NEWS_COLUMNS = ("news_id", "category", "subcategory", "title", "abstract", "url", "title_entities", "abstract_entities")
BEHAVIOR_COLUMNS = ("impression_id", "user_id", "time", "history", "impressions")


def _columns(path: Path, names: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Each line of a header-less tab-separated file as a row named by ``names``."""
    return [(line, dict(zip(names, row, strict=True))) for line, row in tsv_rows(path, names, header=False)]


def read_news(path: Path) -> dict[str, dict[str, str]]:
    news: dict[str, dict[str, str]] = {}
    for line, row in _columns(path, NEWS_COLUMNS):
        if not row["news_id"] or not row["title"].strip():
            raise data_error(path, line, "a news item needs an id and a title")
        if row["news_id"] in news:
            raise data_error(path, line, f"news id {row['news_id']!r} appears twice")
        news[row["news_id"]] = {key: row[key].strip() for key in ("category", "subcategory", "title", "abstract")}
    return news


def _impression(token: str, news: Mapping[str, Any], path: Path, line: int) -> tuple[str, bool]:
    news_id, dash, clicked = token.rpartition("-")
    if not dash or clicked not in ("0", "1"):
        raise data_error(path, line, f"an impression is NEWSID-1 (clicked) or NEWSID-0 (shown), got {token!r}")
    if news_id not in news:
        raise data_error(path, line, f"news id {news_id!r} is not in news.tsv")
    return news_id, clicked == "1"


def news_text(item: Mapping[str, str]) -> str:
    return f"{item['title']} | {item['category']} / {item['subcategory']}"


def history_text(titles: list[str]) -> str:
    return "Recently read: " + "; ".join(titles) if titles else "No reading history"


class ImpressionsLog:
    """A MIND folder read and checked: the pool and the engagement log it gives."""

    def __init__(self, folder: Path, history_items: int) -> None:
        if not folder.is_dir():
            raise StillroomError("expected a folder with behaviors.tsv and news.tsv (the MIND layout)", where=str(folder))
        self.news = read_news(folder / "news.tsv")
        self.behaviors_path = folder / "behaviors.tsv"
        self.history_items = history_items

    def read(self, max_impressions: int | None, seed: int) -> tuple[list[Pair], list[dict[str, Any]]]:
        pairs: list[Pair] = []
        engagement: list[dict[str, Any]] = []
        rows = _columns(self.behaviors_path, BEHAVIOR_COLUMNS)
        chosen = set(seeded_subset([row["impression_id"] for _, row in rows], max_impressions, seed))
        seen: set[str] = set()
        for line, row in rows:
            impression = row["impression_id"]
            if impression in seen:
                raise data_error(self.behaviors_path, line, f"impression id {impression!r} appears twice")
            seen.add(impression)
            history = [h for h in row["history"].split() if h]
            for news_id in history:
                if news_id not in self.news:
                    raise data_error(self.behaviors_path, line, f"history news id {news_id!r} is not in news.tsv")
            shown = [_impression(token, self.news, self.behaviors_path, line) for token in row["impressions"].split()]
            if not shown:
                raise data_error(self.behaviors_path, line, "an impression shows at least one news item")
            if impression not in chosen:
                continue
            titles = [self.news[h]["title"] for h in history[-self.history_items :]]
            request = {"user_id": row["user_id"], "history": titles}
            for news_id, clicked in shown:
                pairs.append(self._pair(impression, request, news_id))
                engagement.append({"request_id": impression, "candidate_id": news_id, "viewed": True, "clicked": clicked})
        return pairs, engagement

    def _pair(self, impression: str, request: Mapping[str, Any], news_id: str) -> Pair:
        item = self.news[news_id]
        return Pair(
            pair_id=f"{impression}:{news_id}",
            request_id=impression,
            candidate_id=news_id,
            request_text=history_text(request["history"]),
            candidate_text=news_text(item),
            request=dict(request),
            candidate=dict(item),
        )


def read(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
    seed = int(data_config.get("seed", seed))
    log = ImpressionsLog(Path(str(data_config["path"])).expanduser(), int(data_config.get("history_items", 5)))
    pool, engagement = log.read(data_config.get("max_impressions"), seed)
    shares = {"dev": float(data_config.get("dev_share", 0.15)), "test": float(data_config.get("test_share", 0.25))}
    golden = read_jsonl_pairs(Path(str(data_config["golden"])).expanduser(), policy, shares, seed)
    return DataBundle(golden=golden.golden, pool=pool + golden.pool, engagement=engagement + golden.engagement)


@hookimpl
def stillroom_data_sources() -> list[DataSourceSpec]:
    return [DataSourceSpec(NAME, read, description="a MIND-style impressions log: clicked and skipped items as engagement, labels by the policy")]
