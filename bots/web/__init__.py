"""The web widget: one script tag on any site, a chat that survives reloads and receives
proactive messages.

- `widgets`: a web binding's widget settings (look, allowed origins, the identify secret).
- `tokens`: signed per-widget visitor tokens.
- `frames`: the wire format between widget.js and the server (parse what comes in, render what
  goes out); the 4 KB text limit.
- `hub`: the sockets open in this process, and the Redis pub/sub bridge between processes.
- `sender`: the `engine.delivery.Sender` of the web channel (the outbox's proactive messages).
- `visitors`: history, unread counts and read markers of a visitor (`models`: the marker table).
- `identify`: `coachbot.identify({id, name, hash})`: verify, then join the visitor to the contact.
- `turns`: one widget message through the pipeline: claim, turn, typing, streaming, replies.
- `api`, `socket`: the HTTP routes and the WebSocket; `routes` mounts them with `/widget.js`
  and the demo page (`demo`).
- `static/widget.js`: the client (plain JavaScript, Shadow DOM, no build step).
"""
