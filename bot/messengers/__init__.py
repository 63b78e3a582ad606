"""The messengers: each translates between ``bot.messages`` and one network, nothing more.

One package per messenger (``webchat``, ``wecom``, ``dingtalk``, ``feishu``). A messenger
imports ``bot.messages``, ``bot.config``, ``bot.text``, ``bot.httpin``, ``bot.domain``, this
package and its plain modules, and its own modules; never ``storage``, ``handlers``,
``bot.services``, ``bot.sheets``, ``bot.app``/``bot.dispatch``/``bot.cli``/``bot.web`` nor
another messenger (``python -m tests.layers`` checks it). The plain modules hold what
messengers share, once: ``bizcrypt`` (the callback crypto of WeCom and DingTalk),
``access_token`` (the API token cache), ``callback`` (the ``{"encrypt": …}`` envelope and
the inbound fields' limits); they import no messenger. What it needs from the rest of the system is a
Protocol below (or of its own package), implemented elsewhere and handed in by
``bot/app.py``.

How to add a messenger
======================

Receiving (the network calls us, or we hold a connection to it):

1. verify: signature in constant time, the sender's id, a signed timestamp within
   :class:`Freshness` (so a replay is refused once its deduplication row is gone), the
   body's size and shape (``bot.httpin``) before parsing it further;
2. parse it into an :class:`~bot.messages.Inbound` (``channel`` = the messenger's name,
   ``event_id`` = the network's own id of the event, for deduplication; ``handle`` = a
   single-use handle to update the clicked card, where the network gives one);
3. hand it to the injected :class:`Receiver` (``await receiver.receive(inbound)``): it
   returns once the event is durably recorded (False: a duplicate, already recorded);
4. acknowledge at once (the network's deadline is seconds); the reply is sent later,
   through the outbox, by the messenger's :class:`Sender`. Nothing is processed in the
   request.

Sending: a :class:`~bot.messages.Sender` (``pace_seconds`` between two messages to one
recipient, ``async send(msg, outbox_id) -> str | Delivered``). It returns the network's
reference to what it sent, or a :class:`~bot.messages.Delivered` carrying also a
single-use handle to update that card later; it raises
:class:`~bot.messages.SendError` (``retry_after`` for a rate limit, ``permanent`` for an
unknown recipient): the relay retries or parks, never drops. Every attempt for one outbox
row carries the same ``msg.key``: give it to the network's duplicate check. A sender whose
"network" is this very database (the web chat) sets ``transactional = True`` and offers
``send_in(tx, msg, outbox_id)``: the relay hands it its own transaction, which the
injected store writes in, so delivery and the "sent" mark commit together.

Updating a card: an ``Outbound`` with ``update_of`` (the card a click came from) or
``refresh`` (every copy of ``subject`` the recipient holds) comes with ``msg.targets``:
each a :class:`~bot.messages.Target` with the ``ref`` the sender returned for that card and
the update ``handle`` still valid ("" when spent or expired). Update what a handle allows;
where none is, a ``refresh`` sends ``msg.text`` (a short status) instead, if not empty.

Wiring: the package offers ``install(app, settings, wiring: Wiring)`` (see
``bot/messengers/wecom/setup.py``): it checks its settings (a :class:`ConfigError` with a
Chinese message for the operator: ``ssj serve`` refuses to start with it), opens its HTTP client in a cleanup context, builds its adapter with
``app[wiring.receiver]`` once the app has started, puts its sender at
``app[wiring.sender]`` unless one is there, and registers its routes. ``bot/app.py``
(``_messengers``) calls it when the messenger is configured. A messenger that needs more
than a receiver (the web chat: a message store, the people, the logins) names it in
Protocols of its own (``bot/messengers/webchat/ports.py``), implemented in
``bot/services`` over ``storage/repos`` and handed in by ``_messengers`` as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from bot.messages import Delivered, Inbound, Outbound, Sender, SendError, Target


class ConfigError(ValueError):
    """A messenger's setting that is missing or malformed; the message is Chinese, for
    the operator. Raised by ``install`` before anything listens."""


class Receiver(Protocol):
    """Where a messenger hands what it received (``bot.dispatch.Dispatcher``)."""

    async def receive(self, ib: Inbound) -> bool:
        """Record durably and queue for processing; False when the event (same
        ``channel`` and ``event_id``) was received before. Acknowledge only after this
        returns."""
        ...


@dataclass(frozen=True)
class Freshness:
    """How far a callback's signed timestamp may be from now: at most ``max_age``
    seconds old, at most ``skew`` seconds ahead (clocks differ). The receiver keeps a
    handled event's deduplication row for ``max_age + 2 * skew``, so a replay that passes
    this check is still recognised as one."""

    max_age: float
    skew: float

    def holds(self, signed_at: float, now: float) -> bool:
        return -self.skew <= now - signed_at <= self.max_age


@dataclass(frozen=True)
class Wiring:
    """What ``bot/app.py`` hands a messenger's ``install(app, settings, wiring)``.

    ``receiver``: the key of the app's :class:`Receiver` (there once the app has started);
    ``sender``: the key of the app's :class:`~bot.messages.Sender`, which the messenger
    sets unless one is set already (a test's fake, another messenger);
    ``clock_skew``: seconds a signed timestamp may be ahead, for :class:`Freshness`.
    """

    receiver: web.AppKey[Any]
    sender: web.AppKey[Any]
    clock_skew: float


__all__ = [
    "ConfigError",
    "Delivered",
    "Freshness",
    "Inbound",
    "Outbound",
    "Receiver",
    "SendError",
    "Sender",
    "Target",
    "Wiring",
]
