"""The slice of JQL the fake understands, with Jira's answers to what it does not.

Supported: clauses joined by ``AND`` on ``project``, ``key``/``issuekey``, ``id``, ``status``,
``issuetype``/``type``, ``labels`` (``=``, ``!=``, ``IN``, ``NOT IN``; a label clause matches an
issue that has any of the labels) and ``updated``/``created``
(``>=``, ``>``, ``<=``, ``<``, ``=``) with dates ``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd HH:mm"``,
``"yyyy/MM/dd"`` or ``"yyyy-MM-dd"`` read in the API user's time zone (minute resolution, as
Jira does), then ``ORDER BY`` ``updated``, ``created``, ``key`` or ``id`` ``ASC|DESC``.
Anything else is a `JqlError`, which the fake answers with 400 and Jira's error shape.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from collectors.sandbox.world import JiraIssue

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>>=|<=|!=|=|>|<|~)'
    r"|(?P<punct>[(),])|(?P<word>[^\s(),=!<>~\"']+))"
)
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_TEXT_FIELDS = {
    "project": "project",
    "key": "key",
    "issuekey": "key",
    "id": "id",
    "status": "status",
    "issuetype": "type",
    "type": "type",
    "labels": "labels",
}
_DATE_FIELDS = {"updated": "updated", "updateddate": "updated", "created": "created"}
_DATE_FIELDS["createddate"] = "created"
_ORDER_FIELDS = ("updated", "created", "key", "id")


class JqlError(ValueError):
    """A query Jira would refuse with 400."""


@dataclass(frozen=True)
class Query:
    """A parsed query: ``matches`` filters issues, ``sort_key`` orders them."""

    clauses: list[Callable[[JiraIssue], bool]] = field(default_factory=list)
    projects: frozenset[str] | None = None  # when the query names its projects: where to look
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def matches(self, issue: JiraIssue) -> bool:
        return all(clause(issue) for clause in self.clauses)

    def sort(self, issues: list[JiraIssue]) -> list[JiraIssue]:
        # Jira breaks ties by issue id; apply the sort keys last to first (stable sorts).
        ordered = sorted(issues, key=lambda i: i.id)
        for name, descending in reversed(self.order):
            ordered.sort(key=_ORDER_KEYS[name], reverse=descending)
        return ordered


def _key_order(issue: JiraIssue) -> Any:
    project, _, number = issue.key.rpartition("-")
    return (project, int(number) if number.isdigit() else 0)


_ORDER_KEYS: dict[str, Callable[[JiraIssue], Any]] = {
    "updated": lambda i: i.updated,
    "created": lambda i: i.created,
    "key": _key_order,
    "id": lambda i: i.id,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: the character at position {pos} is invalid.")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


def parse(text: str, tz: ZoneInfo) -> Query:
    """Parse ``text``; raise `JqlError` with Jira's wording when it is not supported."""
    tokens = _tokens(text)
    words = [v.lower() if k == "word" else None for k, v in tokens]
    cut = next(
        (i for i in range(len(tokens) - 1) if words[i] == "order" and words[i + 1] == "by"),
        len(tokens),
    )
    where, order_tokens = tokens[:cut], tokens[cut + 2 :]
    if not where:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. "
            "Please add a search restriction to your query."
        )
    clauses: list[Callable[[JiraIssue], bool]] = []
    projects: frozenset[str] | None = None
    for clause_tokens in _split_and(where):
        clause, named = _clause(clause_tokens, tz)
        clauses.append(clause)
        if named is not None:
            projects = named if projects is None else projects & named
    return Query(clauses, projects, _order(order_tokens))


def _split_and(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    parts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, value in tokens:
        lowered = value.lower() if kind == "word" else ""
        if kind == "punct":
            depth += {"(": 1, ")": -1}.get(value, 0)
        if depth == 0 and lowered == "and":
            parts.append([])
        elif depth == 0 and lowered == "or":
            raise JqlError("Error in the JQL Query: OR is not supported by this site.")
        else:
            parts[-1].append((kind, value))
    if any(not p for p in parts):
        raise JqlError("Error in the JQL Query: Expecting a field name but got the end.")
    return parts


def _clause(
    tokens: list[tuple[str, str]], tz: ZoneInfo
) -> tuple[Callable[[JiraIssue], bool], frozenset[str] | None]:
    name = tokens[0][1].lower()
    if tokens[0][0] not in ("word", "str") or (
        name not in _TEXT_FIELDS and name not in _DATE_FIELDS
    ):
        raise JqlError(
            f"Field '{tokens[0][1]}' does not exist or you do not have permission to view it."
        )
    rest = tokens[1:]
    if not rest:
        raise JqlError(f"Error in the JQL Query: Expecting an operator after '{tokens[0][1]}'.")
    if name in _DATE_FIELDS:
        return _date_clause(_DATE_FIELDS[name], rest, tz), None
    attribute = _TEXT_FIELDS[name]
    negate = rest[0][1].lower() == "not"
    if negate:
        rest = rest[1:]
    op = rest[0][1].lower() if rest else ""
    if op in ("=", "!=") and len(rest) == 2 and rest[1][0] in ("word", "str"):
        values = frozenset({rest[1][1]})
        negate = negate or op == "!="
    elif op == "in" and len(rest) >= 3 and rest[1][1] == "(" and rest[-1][1] == ")":
        values = frozenset(v for k, v in rest[2:-1] if k in ("word", "str"))
    else:
        raise JqlError(
            f"Error in the JQL Query: the operator for '{tokens[0][1]}' is not supported."
        )
    folded = frozenset(v.lower() for v in values)

    def clause(issue: JiraIssue) -> bool:
        if attribute == "labels":
            found = any(label.lower() in folded for label in issue.labels)
            return found != negate
        value = issue.id if attribute == "id" else getattr(issue, attribute)
        found = str(value).lower() in folded
        return found != negate

    return clause, (values if attribute == "project" and not negate else None)


def _date_clause(
    attribute: str, rest: list[tuple[str, str]], tz: ZoneInfo
) -> Callable[[JiraIssue], bool]:
    if len(rest) != 2 or rest[0][0] != "op" or rest[1][0] not in ("word", "str"):
        raise JqlError(f"Error in the JQL Query: the operator for '{attribute}' is not supported.")
    op, text = rest[0][1], rest[1][1]
    when = parse_date(text, tz, attribute)
    compare: dict[str, Callable[[dt.datetime], bool]] = {
        ">=": lambda v: v >= when,
        ">": lambda v: v > when,
        "<=": lambda v: v <= when,
        "<": lambda v: v < when,
        "=": lambda v: v == when,
    }
    if op not in compare:
        raise JqlError(f"Error in the JQL Query: the operator '{op}' is not supported for dates.")
    test = compare[op]
    return lambda issue: test(getattr(issue, attribute))


def parse_date(text: str, tz: ZoneInfo, attribute: str = "updated") -> dt.datetime:
    """A JQL date in the user's time zone -> an aware datetime (minute resolution)."""
    for pattern in _DATE_FORMATS:
        try:
            local = dt.datetime.strptime(text.strip(), pattern)  # noqa: DTZ007 - zone added below
        except ValueError:
            continue
        return local.replace(tzinfo=tz)
    raise JqlError(
        f"Date value '{text}' for field '{attribute}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
        "or a period format e.g. '-5d', '4w 2d'."
    )


def _order(tokens: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in _split_commas(tokens):
        name = part[0][1].lower()
        if name not in _ORDER_FIELDS:
            raise JqlError(f"Not able to sort using field '{part[0][1]}'.")
        direction = part[1][1].lower() if len(part) > 1 else "asc"
        if len(part) > 2 or direction not in ("asc", "desc"):
            raise JqlError("Error in the JQL Query: Expecting ASC or DESC in the ORDER BY clause.")
        order.append((name, direction == "desc"))
    return order


def _split_commas(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    if not tokens:
        return []
    parts: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token == ("punct", ","):
            parts.append([])
        else:
            parts[-1].append(token)
    if any(not p for p in parts):
        raise JqlError("Error in the JQL Query: Expecting a field name in the ORDER BY clause.")
    return parts
