"""The web process end to end: signed requests in, acknowledgements and answers out."""

from __future__ import annotations

from tests.bot.harness import BotHarness


def test_a_command_is_acknowledged_then_answered_through_its_response_url(bot: BotHarness) -> None:
    reply = bot.command("/sitrep products")
    assert reply.status == 200
    assert reply.ack["text"].startswith("Listing the products")
    posts = reply.wait()
    assert posts[0]["blocks"][0]["text"]["text"] == "Products (7)"


def test_healthz_and_metrics(bot: BotHarness) -> None:
    assert bot.http.get("/healthz").json() == {"ok": True}
    bot.command("/sitrep sync status").wait()
    bot.settle()  # the answer can land before its outbox row is marked sent
    text = bot.http.get("/metrics").text
    assert 'sitrep_http_requests_total{route="slack",status="200"}' in text
    assert "sitrep_outbox_pending 0.0" in text
