"""WhatsApp through Twilio: signed webhooks for inbound messages and delivery statuses, and the
`Sender` on twilio's REST client (its async path, on our own aiohttp transport).

- `client`: the twilio `Client` on aiohttp, pointed at COACHBOT_TWILIO_API_URL, with timeouts.
- `signature`: X-Twilio-Signature against the public URL.
- `parse`: a Twilio form → InboundMessage (text, media, button replies).
- `sender`: the `engine.delivery.Sender` for WhatsApp.
- `webhook`: the two routes.
"""
