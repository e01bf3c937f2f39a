"""The modals of the alert buttons: create a Jira ticket, link an existing one, and notices.

Built with ``slack_sdk.models`` (validated by ``to_dict()``). The modal remembers which alert
message it belongs to in ``private_metadata``; the submission is read back by `read_create` and
`read_link`, which return what was entered or the per-field errors Slack shows in the modal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ButtonElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.alerts.blocks import safe_link
from bot.alerts.candidates import KEY, Candidate, normalise_key
from bot.alerts.tickets import (
    PRIORITIES,
    PRIORITY_OF_LEVEL,
    SUMMARY_CHARS,
    TicketDraft,
    default_description,
)
from bot.slack.blocks import clip, context_block, section, source_text
from bot.slack.ids import ActionId, CallbackId

VALUE = "value"  # the action id of every input (one input per block)
OPTION_TEXT = 75  # Slack's limit for an option's text
DESCRIPTION_CHARS = 3000  # a plain_text_input holds at most 3000 characters


@dataclass(frozen=True)
class Submitted:
    message_id: int
    values: Mapping[str, Mapping[str, Any]]


def metadata(message_id: int) -> str:
    return json.dumps({"m": message_id}, separators=(",", ":"))


def read(view: Mapping[str, Any]) -> Submitted:
    """The message id and the state of a submitted modal; `ValueError` if not one of ours."""
    data = json.loads(str(view.get("private_metadata") or ""))
    if not isinstance(data, dict) or not isinstance(data.get("m"), int):
        raise ValueError("this modal carries no alert message")
    return Submitted(int(data["m"]), (view.get("state") or {}).get("values") or {})


def _text(value: str, limit: int = OPTION_TEXT) -> PlainTextObject:
    return PlainTextObject(text=clip(" ".join(value.split()) or "?", limit), emoji=False)


def _option(value: str, label: str) -> Option:
    return Option(value=value, text=_text(label))


# ---------------------------------------------------------------- create


def create_modal(
    *,
    message_id: int,
    doc: Mapping[str, Any],
    projects: Sequence[str],
    suggestion: Candidate | None,
) -> dict[str, Any]:
    """Prefilled: the product's first Jira project, the Sentry title, the level's priority, the
    facts as description. A strong match among open tickets is offered first, to link instead."""
    blocks: list[Any] = []
    if suggestion is not None:
        ticket = safe_link(suggestion.url, suggestion.key, 40)
        blocks.append(
            SectionBlock(
                block_id="suggestion",
                text=section(
                    f"💡 Looks like {ticket} _{source_text(suggestion.summary, 150)}_ "
                    f"({suggestion.score:.0f}% similar, {source_text(suggestion.status, 30)}) "
                    "may already be about this error."
                ).text,
                accessory=ButtonElement(
                    text="Link it instead",
                    action_id=ActionId.LINK_SUGGESTED_JIRA.value,
                    value=json.dumps({"m": message_id, "k": suggestion.key}),
                ),
            )
        )
    options = [_option(p, p) for p in projects[:100]]
    priority = PRIORITY_OF_LEVEL.get(str(doc.get("level") or "error"), "High")
    priorities = [_option(p, p) for p in PRIORITIES]
    blocks += [
        InputBlock(
            block_id="project",
            label="Jira project",
            element=StaticSelectElement(
                action_id=VALUE, options=options, initial_option=options[0]
            ),
        ),
        InputBlock(
            block_id="summary",
            label="Summary",
            element=PlainTextInputElement(
                action_id=VALUE,
                initial_value=clip(" ".join(str(doc.get("title", "")).split()), SUMMARY_CHARS),
                max_length=SUMMARY_CHARS,
            ),
        ),
        InputBlock(
            block_id="priority",
            label="Priority",
            hint=f"From the Sentry level ({doc.get('level') or 'error'})",
            element=StaticSelectElement(
                action_id=VALUE,
                options=priorities,
                initial_option=priorities[PRIORITIES.index(priority)],
            ),
        ),
        InputBlock(
            block_id="description",
            label="Description",
            hint="A link to the Sentry issue is added below it.",
            element=PlainTextInputElement(
                action_id=VALUE,
                multiline=True,
                initial_value=clip(default_description(doc), DESCRIPTION_CHARS),
                max_length=DESCRIPTION_CHARS,
            ),
        ),
    ]
    view = View(
        type="modal",
        callback_id=CallbackId.CREATE_JIRA_MODAL.value,
        title="Create Jira ticket",
        submit="Create",
        close="Cancel",
        private_metadata=metadata(message_id),
        blocks=blocks,
    )
    return view.to_dict()


def read_create(
    values: Mapping[str, Mapping[str, Any]], projects: Sequence[str]
) -> tuple[TicketDraft | None, dict[str, str]]:
    errors: dict[str, str] = {}
    project = _selected(values, "project")
    if project not in projects:
        errors["project"] = f"Pick one of this product's Jira projects: {', '.join(projects)}"
    summary = " ".join(_typed(values, "summary").split())
    if not summary:
        errors["summary"] = "A ticket needs a summary."
    elif len(summary) > SUMMARY_CHARS:
        errors["summary"] = f"Jira takes at most {SUMMARY_CHARS} characters here."
    priority = _selected(values, "priority")
    if priority not in PRIORITIES:
        errors["priority"] = f"Pick one of {', '.join(PRIORITIES)}."
    description = _typed(values, "description")
    if errors:
        return None, errors
    return TicketDraft(project, summary, priority, description), {}


# ---------------------------------------------------------------- link


def link_modal(
    *, message_id: int, doc: Mapping[str, Any], candidates: Sequence[Candidate]
) -> dict[str, Any]:
    """The best candidates first (open tickets of the product's projects), or a typed key."""
    title = source_text(doc.get("title", ""), 200)
    blocks: list[Any] = [section(f"Link *{title}* to a Jira ticket.")]
    if candidates:
        options = [_option(c.key, f"{c.key} · {c.summary}") for c in candidates[:100]]
        blocks.append(
            InputBlock(
                block_id="candidate",
                label="Open tickets, most similar first",
                optional=True,
                element=StaticSelectElement(
                    action_id=VALUE, options=options, placeholder="Pick a ticket"
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id="key",
            label="Or a ticket key",
            optional=bool(candidates),
            hint="E.g. PAY-123, or the ticket's URL",
            element=PlainTextInputElement(action_id=VALUE, max_length=300),
        )
    )
    if not candidates:
        blocks.append(context_block("No open tickets in this product's Jira projects were synced."))
    view = View(
        type="modal",
        callback_id=CallbackId.LINK_JIRA_MODAL.value,
        title="Link Jira ticket",
        submit="Link",
        close="Cancel",
        private_metadata=metadata(message_id),
        blocks=blocks,
    )
    return view.to_dict()


def read_link(values: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, dict[str, str]]:
    """The chosen key; a typed key wins over a picked one only when they agree."""
    picked = _selected(values, "candidate")
    typed = normalise_key(_typed(values, "key"))
    if typed and picked and typed != picked:
        return None, {"key": f"You picked {picked} and typed {typed}: clear one of them."}
    chosen = typed or picked
    if not chosen:
        return None, {"key": "Pick a ticket above or type its key."}
    if not KEY.match(chosen):
        return None, {"key": f"{clip(chosen, 40)} is not a Jira key (like PAY-123)."}
    return chosen, {}


# ---------------------------------------------------------------- notices


def notice(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (no submit): who was first, what was linked."""
    return View(
        type="modal", title=clip(title, 24), close="Close", blocks=[section(text)]
    ).to_dict()


def _selected(values: Mapping[str, Mapping[str, Any]], block: str) -> str:
    option = (values.get(block, {}).get(VALUE) or {}).get("selected_option") or {}
    return str(option.get("value") or "")


def _typed(values: Mapping[str, Mapping[str, Any]], block: str) -> str:
    return str((values.get(block, {}).get(VALUE) or {}).get("value") or "")
