"""Telegram, on python-telegram-bot 22: its wire objects (`Update.de_json`) and its `Bot` client,
without its `Application`: updates arrive on our own aiohttp route (or the polling loop).

- `client`: the Bot, pointed at COACHBOT_TELEGRAM_API_URL, with timeouts.
- `parse`: an update → InboundMessage, or the reason it is ignored.
- `keyboard`: choices as inline keyboards within the 64-byte callback_data limit.
- `sender`: the `engine.delivery.Sender` for Telegram.
- `inbound`: verify, parse, claim, hand the turn to the background (shared by webhook and poll).
- `webhook`, `poll`: the two ways updates arrive.
"""

import os

# python-telegram-bot 22 moves time periods (RetryAfter.retry_after, …) from int seconds to
# timedelta and warns on every use until one opts in; we read either form, so opt in.
os.environ.setdefault("PTB_TIMEDELTA", "true")
