"""`/sitrep` text -> commands, and names -> products, teams and boards: pure, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.commands.model import (
    ORGANISATION,
    Alerts,
    Digest,
    Help,
    Mute,
    Name,
    NameKind,
    Products,
    Report,
    Subscribe,
    Subscriptions,
    SyncStatus,
    Target,
    Unmute,
    Unsubscribe,
    UsageError,
)
from bot.commands.names import Catalog, resolve
from bot.commands.parse import parse, tokenize
from bot.commands.spec import COMMANDS, spec

CATALOG = Catalog(
    products=("Payment System", "Checkout", "Catalog & Search", "Fraud Detection"),
    teams=("payments", "checkout", "discovery"),
    boards=(("2", "PAY board"), ("1", "CHK board")),
)
PRODUCT_OR_TEAM: tuple[NameKind, ...] = ("product", "team")


def error_of(text: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse(text)
    return caught.value


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "?", "--help"])
def test_nothing_or_help_is_the_help(text: str) -> None:
    assert parse(text) == Help()


def test_help_for_one_command() -> None:
    assert parse("help dora") == Help("dora")
    assert parse("help sync") == Help("sync status")
    error = error_of("help dorra")
    assert error.suggestions == ("dora",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("health", Report("health")),
        ("health Payment System", Report("health", Name("Payment System", PRODUCT_OR_TEAM))),
        ("dora Payment System 30d", Report("dora", Name("Payment System", PRODUCT_OR_TEAM), 30)),
        ("dora payment   system 7D", Report("dora", Name("payment system", PRODUCT_OR_TEAM), 7)),
        (
            "dora Payment System 90 days",
            Report("dora", Name("Payment System", PRODUCT_OR_TEAM), 90),
        ),
        ("dora 365d", Report("dora", None, 365)),
        ("dora team payments 90d", Report("dora", Name("payments", ("team",)), 90)),
        ("dora product checkout", Report("dora", Name("checkout", ("product",)))),
        ('health "Project 42" 7d', Report("health", Name("Project 42", PRODUCT_OR_TEAM), 7)),
        ("health “Project 42”", Report("health", Name("Project 42", PRODUCT_OR_TEAM))),
        ("sprint PAY board", Report("sprint", Name("PAY board", ("board", "product", "team")))),
        ("sprint board 2", Report("sprint", Name("2", ("board",)))),
        ("alerts Checkout", Alerts(Name("Checkout", PRODUCT_OR_TEAM))),
        ("alerts", Alerts()),
        ("products", Products()),
        ("digest Payment System", Digest(Name("Payment System", ("product",)))),
        ("subscriptions", Subscriptions()),
        ("sync status", SyncStatus()),
        ("sync", SyncStatus()),
    ],
)
def test_commands_parse(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_unknown_command_suggests_the_closest() -> None:
    error = error_of("helth Payment System")
    assert error.message == "Unknown command 'helth'."
    assert error.suggestions == ("health",)
    assert all(spec.line in error.usage for spec in COMMANDS)  # the whole list to pick from
    assert error_of("dorra").suggestions == ("dora",)
    assert error_of("subscribtions").suggestions == ("subscriptions",)
    assert error_of("xyzzy").suggestions == ()


def test_a_quoted_first_word_is_never_a_command() -> None:
    assert error_of('"health" Checkout').message == "Unknown command 'health'."


@pytest.mark.parametrize(
    ("text", "typed", "suggestion"),
    [
        ("dora Payment System 31x", "31x", "31d"),
        ("dora Payment System 2w", "2w", "14d"),
        ("health 30", "30", "30d"),
        ("health Checkout 3m", "3m", "90d"),
    ],
)
def test_a_bad_window_says_what_a_window_is(text: str, typed: str, suggestion: str) -> None:
    error = error_of(text)
    assert f"'{typed}' is not a window" in error.message
    assert "1d to 365d" in error.message
    assert error.suggestions == (suggestion,)
    assert error.usage == spec(text.split(maxsplit=1)[0]).help_text()


@pytest.mark.parametrize(("window", "suggestion"), [("0d", "1d"), ("400d", "365d")])
def test_a_window_is_one_to_365_days(window: str, suggestion: str) -> None:
    error = error_of(f"dora {window}")
    assert "from 1d to 365d" in error.message
    assert error.suggestions == (suggestion,)


def test_sprint_takes_no_window() -> None:
    assert "takes no window" in error_of("sprint PAY board 30d").message


def test_unclosed_quote() -> None:
    assert "never closed" in error_of('health "Payment System').message


def test_tokenize_keeps_quoted_words_whole_and_marks_them() -> None:
    tokens = tokenize('dora  "Payment   System"  7d')
    assert [(t.text, t.quoted) for t in tokens] == [
        ("dora", False),
        ("Payment System", True),
        ("7d", False),
    ]


def test_commands_without_arguments_refuse_them() -> None:
    assert "takes no arguments" in error_of("products payments").message
    error = error_of("sync now")
    assert error.suggestions == ("sync status",)


# ---------------------------------------------------------------- subscriptions


def test_subscribe_reads_the_schedule_from_the_end() -> None:
    assert parse("subscribe digest Payment System weekly friday 16:00 Europe/Berlin") == Subscribe(
        "digest",
        Name("Payment System", ("product",)),
        cadence="weekly",
        weekday=4,
        at=dt.time(16, 0),
        time_zone="Europe/Berlin",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subscribe digest", Subscribe("digest")),
        ("subscribe digests daily", Subscribe("digest", cadence="daily")),
        (
            "subscribe digest weekly on Friday at 4pm europe/berlin",
            Subscribe("digest", None, "weekly", 4, dt.time(16, 0), "Europe/Berlin"),
        ),
        # a weekday alone means weekly; the order of the trailing words does not matter
        (
            "subscribe digest Checkout utc 7:30 mon",
            Subscribe("digest", Name("Checkout", ("product",)), "weekly", 0, dt.time(7, 30), "UTC"),
        ),
        ("subscribe alerts Checkout", Subscribe("alerts", Name("Checkout", ("product",)))),
        ("subscribe alert", Subscribe("alerts")),
        # a name that ends in a schedule word, quoted
        ('subscribe digest "Daily"', Subscribe("digest", Name("Daily", ("product",)))),
        (
            "unsubscribe digest Payment System",
            Unsubscribe("digest", Name("Payment System", ("product",))),
        ),
        (
            "unsubscribe digest Checkout weekly friday",
            Unsubscribe("digest", Name("Checkout", ("product",))),
        ),
    ],
)
def test_subscribe_variants(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message", "suggestions"),
    [
        ("subscribe", "digest or alerts", ()),
        ("subscribe digets", "not 'digets'", ("digest",)),
        ("subscribe digest 25:00", "'25:00' is not a time of day", ()),
        ("subscribe digest 13pm", "'13pm' is not a time of day", ()),
        (
            "subscribe digest Europe/Berln",
            "Unknown time zone 'Europe/Berln'",
            ("Europe/Berlin",),
        ),
        ("subscribe digest daily friday", "A daily digest runs every day", ("weekly friday",)),
        ("subscribe digest 09:00 10:00", "give one time", ()),
        ("subscribe alerts Checkout daily", "Alerts are posted as they happen", ()),
    ],
)
def test_subscribe_errors(text: str, message: str, suggestions: tuple[str, ...]) -> None:
    error = error_of(text)
    assert message in error.message
    assert error.suggestions[: len(suggestions)] == suggestions
    assert error.usage == spec(text.split(maxsplit=1)[0]).help_text()


PAY = Name("Payment System", ("product",))
HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mute", Mute()),
        ("mute Payment System", Mute(PAY)),
        ("mute Payment System 2h", Mute(PAY, 2 * HOUR)),
        ("mute Payment System for 90 minutes", Mute(PAY, 1.5 * HOUR)),
        ("mute Payment System 1h30m", Mute(PAY, 1.5 * HOUR)),
        ("mute Payment System 1d", Mute(PAY, 24 * HOUR)),
        ('mute Payment System 2h "db upgrade"', Mute(PAY, 2 * HOUR, note="db upgrade")),
        ('mute Payment System "db upgrade"', Mute(PAY, note="db upgrade")),
        ("mute Payment System until 18:00", Mute(PAY, until=dt.time(18))),
        (
            'mute Payment System until 6pm Europe/Berlin "x"',
            Mute(PAY, until=dt.time(18), time_zone="Europe/Berlin", note="x"),
        ),
        ('mute product "Project 42"', Mute(Name("Project 42", ("product",)))),
        ('mute "Project 42" 2h', Mute(Name("Project 42", ("product",)), 2 * HOUR)),
        ("unmute Payment System", Unmute(PAY)),
    ],
)
def test_mute_variants(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message", "suggestions"),
    [
        ("mute 2h", "Say which product to mute", ()),
        ("unmute", "Say which product to unmute", ()),
        ("mute Checkout 2w", "'2w' is not a length", ("30m", "2h", "1d")),
        ("mute Checkout 15d", "from 1 minute to 14 days, not '15d'", ("14d",)),
        ("mute Checkout 0m", "from 1 minute to 14 days", ("30m",)),
        ("mute Checkout until soon", "say until when as a time of day", ()),
        ("mute Checkout until 25:00", "'25:00' is not a time of day", ()),
        ("mute Checkout until 18:00 Europe/Berln", "Unknown time zone", ("Europe/Berlin",)),
    ],
)
def test_mute_errors(text: str, message: str, suggestions: tuple[str, ...]) -> None:
    error = error_of(text)
    assert message in error.message
    assert error.suggestions[: len(suggestions)] == suggestions
    assert error.usage == spec(text.split(maxsplit=1)[0]).help_text()


# ---------------------------------------------------------------- resolving names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (Name("payment system", PRODUCT_OR_TEAM), Target("product", "Payment System")),
        (Name("PAYMENTS", PRODUCT_OR_TEAM), Target("team", "payments")),
        # a product and a team share the name: the product wins, unless asked for the team
        (Name("checkout", PRODUCT_OR_TEAM), Target("product", "Checkout")),
        (Name("checkout", ("team",)), Target("team", "checkout")),
        (Name("2", ("board", "product", "team")), Target("board", "PAY board", "2")),
        (Name("pay board", ("board", "product", "team")), Target("board", "PAY board", "2")),
        (Name("PAY board (2)", ("board",)), Target("board", "PAY board", "2")),
        (Name("all", ("product",)), ORGANISATION),
    ],
)
def test_names_resolve_case_insensitively(name: Name, expected: Target) -> None:
    assert resolve(name, CATALOG, command="dora") == expected


def test_no_name_is_the_organisation() -> None:
    assert resolve(None, CATALOG, command="health") == ORGANISATION


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(Name("Paymant", ("product",)), CATALOG, command="digest")
    assert caught.value.message == "No product called 'Paymant'."
    assert caught.value.suggestions[0] == "Payment System"
    assert caught.value.usage == spec("digest").help_text()


def test_unknown_name_with_nothing_close_lists_what_exists() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(Name("zzz", ("board", "product", "team")), CATALOG, command="sprint")
    assert caught.value.suggestions == ()
    assert "Known boards: PAY board, CHK board." in caught.value.message


def test_a_team_is_not_found_where_only_products_are_asked_for() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(Name("discovery", ("product",)), CATALOG, command="subscribe")
    assert "No product called 'discovery'" in caught.value.message


def test_every_command_has_a_usage_line_and_examples() -> None:
    for command in COMMANDS:
        assert command.line.startswith(f"/sitrep {command.name}")
        assert command.examples
        assert spec(command.name) is command
