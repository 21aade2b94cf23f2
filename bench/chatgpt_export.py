"""A generated ChatGPT `conversations.json` of any size, written as a stream (never held whole),
with the shapes a real one has (docs/import-formats.md): the null root, a hidden system message,
turns of user and assistant text, regenerated answers (branches), multimodal parts, float
create_time, model_slug, current_node. The same seed gives the same bytes.

    python -m bench.chatgpt_export PATH MEGABYTES

Used by `make bench` (the import part) and by tests/e2e/test_import_memory.py.
"""

from __future__ import annotations

import random
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

TURNS = (8, 24)  # user questions a conversation has, fewest and most
WORDS = (
    "the", "deploy", "timed", "out", "after", "health", "check", "failed", "because", "pool",
    "was", "full", "so", "we", "raised", "limit", "and", "retried", "with", "a", "longer",
    "budget", "which", "worked", "until", "cache", "filled", "queue", "backed", "up", "behind",
    "slow", "consumer", "that", "never", "acknowledged", "its", "batch",
)  # fmt: skip
EPOCH = 1_700_000_000.0


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _node(node_id: str, parent: str | None, message: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": node_id, "message": message, "parent": parent, "children": []}


def _message(
    rng: random.Random, role: str, at: float, parts: list[Any], **extra: Any
) -> dict[str, Any]:
    kind = "multimodal_text" if any(not isinstance(p, str) for p in parts) else "text"
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": at,
        "update_time": None,
        "content": {"content_type": kind, "parts": parts},
        "status": "finished_successfully",
        "end_turn": True if role == "assistant" else None,
        "weight": 1.0,
        "metadata": extra.pop("metadata", {}),
        "recipient": "all",
        **extra,
    }


def conversation(rng: random.Random, number: int) -> dict[str, Any]:
    """One conversation: a chain of turns, some answers regenerated (a sibling branch)."""
    start = EPOCH + number * 3600.0 + rng.random()
    mapping: dict[str, dict[str, Any]] = {}

    def add(parent: str | None, message: dict[str, Any] | None) -> str:
        node_id = message["id"] if message else str(uuid.UUID(int=rng.getrandbits(128)))
        mapping[node_id] = _node(node_id, parent, message)
        if parent is not None:
            mapping[parent]["children"].append(node_id)
        return node_id

    leaf = add(None, None)
    hidden = {"is_visually_hidden_from_conversation": True}
    system = _message(rng, "system", start, [""], metadata=hidden)
    system["create_time"] = None
    leaf = add(leaf, system)
    at = start
    for _ in range(rng.randint(*TURNS)):
        at += 30.0 + rng.random()
        parts: list[Any] = [_text(rng, rng.randint(8, 60))]
        if rng.random() < 0.1:
            pointer = f"file-service://file-{rng.getrandbits(64):016x}"
            parts.append({"content_type": "image_asset_pointer", "asset_pointer": pointer})
        question = add(leaf, _message(rng, "user", at, parts))
        slug = {"model_slug": rng.choice(("gpt-4o", "gpt-4o-mini", "o3"))}
        answers = 2 if rng.random() < 0.15 else 1  # a regenerated answer: a second branch
        for _ in range(answers):
            at += 5.0 + rng.random()
            text = _text(rng, rng.randint(40, 160))
            leaf = add(question, _message(rng, "assistant", at, [text], metadata=dict(slug)))
    conversation_id = str(uuid.UUID(int=rng.getrandbits(128)))
    return {
        "title": _text(rng, 4).capitalize(),
        "create_time": start,
        "update_time": at,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": leaf,
        "conversation_id": conversation_id,
        "id": conversation_id,
        "default_model_slug": "gpt-4o",
        "is_archived": False,
    }


def write_export(path: Path, megabytes: float, seed: int = 15) -> int:
    """Write conversations until the file holds `megabytes`; how many it holds."""
    rng = random.Random(seed)
    target = int(megabytes * 1024 * 1024)
    written = count = 0
    with path.open("wb") as out:
        out.write(b"[")
        while written < target:
            data = orjson.dumps(conversation(rng, count))
            out.write(b",\n" if count else b"\n")
            out.write(data)
            written += len(data) + 2
            count += 1
        out.write(b"\n]\n")
    return count


if __name__ == "__main__":
    print(write_export(Path(sys.argv[1]), float(sys.argv[2])), "conversations")
