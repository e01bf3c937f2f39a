"""Block Kit checks of the Slack fake: the limits Slack enforces, with Slack's error messages.

Not the whole Block Kit schema: the rules a bot breaks in practice (too many blocks, a missing
``type``, over-long text, duplicate ids, a modal without a title). Each problem is one string in
Slack's own shape, ``"[ERROR] <what> [json-pointer:/blocks/0/text]"``, which Slack returns in
``response_metadata.messages``.
"""

from __future__ import annotations

import json
from typing import Any

MESSAGE_BLOCKS = 50  # blocks per message
VIEW_BLOCKS = 100  # blocks per Home tab or modal
MESSAGE_TEXT = 40_000  # characters of ``text`` before msg_too_long
VIEW_BYTES = 250_000  # a view's JSON above this is view_too_large

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})


class BlocksFormatError(ValueError):
    """``blocks`` is not a JSON array at all (Slack's ``invalid_blocks_format``)."""


def decode(value: Any) -> Any:
    """A JSON argument as Slack reads it: form fields carry JSON text, JSON bodies the value."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value


def blocks_errors(value: Any, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Problems of a ``blocks`` argument; raises `BlocksFormatError` if it is no array."""
    try:
        blocks = decode(value)
    except ValueError:
        raise BlocksFormatError("blocks is not valid JSON") from None
    if not isinstance(blocks, list):
        raise BlocksFormatError("blocks must be an array")
    return _blocks(blocks, limit=limit, pointer=pointer)


def view_errors(view: Any, *, kinds: frozenset[str]) -> list[str]:
    """Problems of a ``view`` argument whose ``type`` must be one of ``kinds``."""
    if not isinstance(view, dict):
        return [_err("must be an object", "/view")]
    kind = view.get("type")
    if kind not in kinds:
        return [_err(f"must be one of {sorted(kinds)}", "/view/type")]
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [_err("must provide an array", "/view/blocks")]
    errors = _blocks(blocks, limit=VIEW_BLOCKS, pointer="/view/blocks")
    for key, size in (("callback_id", 255), ("external_id", 255), ("private_metadata", 3000)):
        if len(str(view.get(key, ""))) > size:
            errors.append(_err(f"must be less than {size + 1} characters", f"/view/{key}"))
    if kind == "modal":
        if "title" not in view:
            errors.append(_err("missing required field: title", "/view"))
        for key in ("title", "submit", "close"):
            if key in view:
                errors += _text(view[key], f"/view/{key}", limit=24, plain=True)
        if "submit" not in view and any(b.get("type") == "input" for b in _dicts(blocks)):
            errors.append(_err("submit is required when an input block is present", "/view"))
    return errors


def _blocks(blocks: list[Any], *, limit: int, pointer: str) -> list[str]:
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(_err(f"must provide an array of no more than {limit} items", pointer))
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(_err("must be an object", at))
            continue
        kind = block.get("type")
        if not isinstance(kind, str):
            errors.append(_err("missing required field: type", at))
            continue
        if kind not in BLOCK_TYPES:
            errors.append(_err(f"unsupported type: {kind}", f"{at}/type"))
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(_err("must be a string of 1 to 255 characters", f"{at}/block_id"))
            elif block_id in seen:
                errors.append(_err(f"duplicate block_id: {block_id}", f"{at}/block_id"))
            seen.add(str(block_id))
        errors += _block(kind, block, at)
    return errors


def _block(kind: str, block: dict[str, Any], at: str) -> list[str]:
    """The per-type rules."""
    errors: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(_err("must provide text or fields", at))
        if "text" in block:
            errors += _text(block["text"], f"{at}/text", limit=3000)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            errors.append(_err("must provide an array of no more than 10 items", f"{at}/fields"))
        else:
            for j, item in enumerate(fields):
                errors += _text(item, f"{at}/fields/{j}", limit=2000)
        if "accessory" in block:
            errors += _elements([block["accessory"]], f"{at}/accessory", limit=1, single=True)
    elif kind == "header":
        errors += _text(block.get("text"), f"{at}/text", limit=150, plain=True)
    elif kind == "context":
        errors += _elements(block.get("elements"), f"{at}/elements", limit=10)
    elif kind == "actions":
        errors += _elements(block.get("elements"), f"{at}/elements", limit=25)
    elif kind == "input":
        errors += _text(block.get("label"), f"{at}/label", limit=2000, plain=True)
        if not isinstance(block.get("element"), dict):
            errors.append(_err("missing required field: element", at))
    return errors


def _elements(elements: Any, at: str, *, limit: int, single: bool = False) -> list[str]:
    if not isinstance(elements, list) or not elements:
        return [_err("must provide a non-empty array", at)]
    if len(elements) > limit:
        return [_err(f"must provide an array of no more than {limit} items", at)]
    errors: list[str] = []
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        where = at if single else f"{at}/{j}"
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            errors.append(_err("missing required field: type", where))
            continue
        if element["type"] == "button":
            errors += _text(element.get("text"), f"{where}/text", limit=75, plain=True)
            if len(str(element.get("value", ""))) > 2000:
                errors.append(_err("must be less than 2001 characters", f"{where}/value"))
        action_id = element.get("action_id")
        if action_id is not None:
            if len(str(action_id)) > 255:
                errors.append(_err("must be less than 256 characters", f"{where}/action_id"))
            if action_id in action_ids:
                errors.append(_err(f"duplicate action_id: {action_id}", f"{where}/action_id"))
            action_ids.add(str(action_id))
    return errors


def _text(obj: Any, at: str, *, limit: int, plain: bool = False) -> list[str]:
    """A text object: ``{"type": "plain_text"|"mrkdwn", "text": "..."}`` within ``limit``."""
    if not isinstance(obj, dict):
        return [_err("must be a text object", at)]
    kind = obj.get("type")
    if kind not in ({"plain_text"} if plain else TEXT_TYPES):
        return [_err("must be plain_text" if plain else "must be plain_text or mrkdwn", at)]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [_err("must be a non-empty string", f"{at}/text")]
    if len(text) > limit:
        return [_err(f"must be less than {limit + 1} characters", f"{at}/text")]
    return []


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)]


def _err(what: str, pointer: str) -> str:
    return f"[ERROR] {what} [json-pointer:{pointer}]"
