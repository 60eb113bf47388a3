/* coachbot web widget. Embed: <script src="https://HOST/widget.js" data-widget="KEY" async></script>
 *
 * Plain JavaScript, no build step. Everything lives in a Shadow DOM, so the host page's CSS and
 * the widget's never mix. Bot and user text is rendered from the Markdown subset of
 * engine/markup.py into DOM nodes (text nodes, <strong>, <em>, <code>, <a>, lists): never as
 * HTML. The visitor token stays in localStorage and travels in the first WebSocket frame or an
 * Authorization header, never in a URL.
 *
 * API: coachbot.identify({id, name, hash}) → Promise<boolean>; coachbot.reset(); coachbot.open();
 * coachbot.close(). Calls made before the script loads can be queued in window.coachbot.q.
 */
(() => {
  "use strict";
  const script = document.currentScript;
  const pre = window.coachbot;
  if (!script || !script.dataset.widget || (pre && pre.version)) return;
  const KEY = script.dataset.widget;
  const BASE = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  const API = `${BASE}/widget/api/${encodeURIComponent(KEY)}/`;
  const SOCKET = `${BASE.replace(/^http/, "ws")}/widget/ws/${encodeURIComponent(KEY)}`;
  const STORE = `coachbot:${KEY}`;
  const MAX_BYTES = 4096;
  const ACK_TIMEOUT = 8000;

  // ---- Markdown subset → DOM (a port of engine/markup.py's parser) -------------------------
  const ITEM = /^[ \t]*(?:[-*]|(\d{1,9})[.)])[ \t]+(?=\S)/;
  const SPECIAL = /[\\\n`[*_]/g;
  const RUN = /`+|\*+|_+/y;
  const TICKS = /`+/g;
  const ESCAPABLE = "\\*_`[]()-.";
  const LABEL = /(?:[^\]\\\n]|\\.)*/y;
  const URL_ = /\(((?:[^\s()\x00-\x1f\x7f]|\([^\s()\x00-\x1f\x7f]*\))+)\)/y;
  const SAFE_URL = /^(?:https?:\/\/|mailto:|tel:)\S/i;
  const space = (c) => /\s/.test(c);
  const alnum = (c) => /[\p{L}\p{N}]/u.test(c);

  function parse(text) {
    const blocks = [];
    let para = [], items = [], ordered = false, start = 1;
    const flush = () => {
      if (para.length) blocks.push({ t: "p", c: inline(para.join("\n")) });
      if (items.length) blocks.push({ t: ordered ? "ol" : "ul", start, items: items.map((i) => inline(i.join("\n"))) });
      para = [];
      items = [];
    };
    for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
      const m = ITEM.exec(line);
      if (!line.trim()) flush();
      else if (m) {
        if (para.length || (items.length && ordered !== (m[1] !== undefined))) flush();
        if (!items.length) [ordered, start] = [m[1] !== undefined, parseInt(m[1] || "1", 10)];
        items.push([line.slice(m[0].length).trim()]);
      } else if (items.length && (line[0] === " " || line[0] === "\t")) items[items.length - 1].push(line.trim());
      else {
        if (items.length) flush();
        para.push(line.trim());
      }
    }
    flush();
    return blocks;
  }

  function fence(s, from, size) {
    TICKS.lastIndex = from;
    for (let m; (m = TICKS.exec(s)); ) if (m[0].length === size) return m;
    return null;
  }

  function codeText(raw) {
    raw = raw.replace(/\n/g, " ");
    const edges = raw.length > 1 && raw[0] === " " && raw[raw.length - 1] === " ";
    return edges && raw.replace(/^ +| +$/g, "") ? raw.slice(1, -1) : raw;
  }

  function link(s, j) {
    LABEL.lastIndex = j + 1;
    LABEL.exec(s); // always matches (perhaps nothing): the label runs to lastIndex
    const end = LABEL.lastIndex;
    let m = null;
    if (s[end] === "]") {
      URL_.lastIndex = end + 1;
      m = URL_.exec(s);
    }
    if (!m || !SAFE_URL.test(m[1])) return [null, end];
    const label = inline(s.slice(j + 1, end), false);
    return [{ t: "a", url: m[1], c: label.length ? label : [m[1]] }, URL_.lastIndex];
  }

  function inline(s, links = true) {
    const items = [], noFence = new Map();
    let noLink = 0, i = 0;
    const n = s.length;
    for (;;) {
      SPECIAL.lastIndex = i;
      const m = SPECIAL.exec(s);
      if (!m) break;
      const j = m.index, c = s[j];
      items.push(s.slice(i, j));
      i = j + 1;
      if (c === "\\") {
        const escaped = i < n && ESCAPABLE.includes(s[i]);
        items.push(escaped ? s[i] : c);
        if (escaped) i++;
      } else if (c === "\n") items.push({ t: "br" });
      else if (c === "[") {
        const [node, end] = links && j >= noLink ? link(s, j) : [null, i];
        if (node) {
          items.push(node);
          i = end;
        } else {
          noLink = Math.max(noLink, end);
          items.push(c);
          i = j + 1;
        }
      } else {
        RUN.lastIndex = j;
        i = j + RUN.exec(s)[0].length;
        const size = i - j;
        if (c === "`") {
          const close = (noFence.has(size) ? noFence.get(size) : n + 1) > i ? fence(s, i, size) : null;
          if (!close) {
            noFence.set(size, i);
            items.push(s.slice(j, i));
          } else {
            items.push({ t: "code", text: codeText(s.slice(i, close.index)) });
            i = close.index + size;
          }
          continue;
        }
        const prev = j ? s[j - 1] : " ", next = i < n ? s[i] : " ";
        let open, shut;
        if (c === "*") [open, shut] = [!space(next), !space(prev)];
        else {
          open = size === 1 && !space(next) && !alnum(prev);
          shut = size === 1 && !space(prev) && !alnum(next);
        }
        items.push(open || shut ? { d: c, count: size, open, shut, seq: items.length, size } : s.slice(j, i));
      }
    }
    items.push(s.slice(i));
    return canonical(emphasis(items));
  }

  function emphasis(items) {
    const openers = { "*": [], _: [] };
    let i = 0;
    while (i < items.length) {
      const d = items[i];
      if (!d || !d.d) {
        i++;
        continue;
      }
      const stack = openers[d.d];
      let o = null;
      if (d.shut) for (let k = stack.length - 1; k >= 0 && !o; k--) if (pairs(stack[k], d)) o = stack[k];
      if (!o) {
        if (d.open) stack.push(d);
        i++;
        continue;
      }
      for (const st of Object.values(openers)) while (st.length && st[st.length - 1].seq > o.seq) st.pop();
      let j = i - 1;
      while (items[j] !== o) j--;
      const use = o.count >= 2 && d.count >= 2 ? 2 : 1;
      items.splice(j + 1, i - j - 1, { t: use === 2 ? "b" : "i", c: finish(items.slice(j + 1, i)) });
      i = j + 2;
      o.count -= use;
      d.count -= use;
      if (!o.count) {
        stack.pop();
        items.splice(j, 1);
        i--;
      }
      if (!d.count) items.splice(i, 1);
    }
    return finish(items);
  }

  function pairs(o, d) {
    const both = o.shut || d.open;
    return !(both && (o.size + d.size) % 3 === 0 && (o.size % 3 || d.size % 3));
  }

  const finish = (items) => items.map((x) => (x && x.d ? x.d.repeat(x.count) : x));

  // Adjacent texts merged, empty and same-kind nested spans dropped, Bold(Italic) not
  // Italic(Bold): the same tree engine.markup builds (the browser tests compare the two).
  function canonical(nodes, inside = new Set()) {
    const out = [];
    for (const node of nodes) {
      let add = [node];
      if (node.t === "b" || node.t === "i") {
        const kids = canonical(node.c, new Set([...inside, node.t]));
        if (inside.has(node.t)) add = kids;
        else if (node.t === "i" && kids.length === 1 && kids[0].t === "b") add = [{ t: "b", c: [{ t: "i", c: kids[0].c }] }];
        else add = kids.length ? [{ t: node.t, c: kids }] : [];
      } else if (node.t === "a") {
        const label = canonical(node.c, inside);
        add = [{ t: "a", url: node.url, c: label.length ? label : [node.url] }];
      } else if (node === "") add = [];
      for (const x of add) {
        const last = out[out.length - 1];
        if (typeof last === "string" && typeof x === "string") out[out.length - 1] = last + x;
        else if (last && (last.t === "b" || last.t === "i") && x.t === last.t) out[out.length - 1] = canonical([{ t: last.t, c: last.c.concat(x.c) }], inside)[0];
        else out.push(x);
      }
    }
    return out;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function renderInline(nodes, parent) {
    for (const node of nodes) {
      if (typeof node === "string") parent.append(document.createTextNode(node));
      else if (node.t === "br") parent.append(el("br"));
      else if (node.t === "code") parent.append(el("code", null, node.text));
      else if (node.t === "b" || node.t === "i") renderInline(node.c, parent.appendChild(el(node.t === "b" ? "strong" : "em")));
      else if (node.t === "a" && SAFE_URL.test(node.url)) {
        const a = el("a");
        a.href = node.url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        renderInline(node.c, a);
        parent.append(a);
      } else if (node.t === "a") renderInline(node.c, parent);
    }
  }

  function markdown(text) {
    const frag = document.createDocumentFragment();
    for (const block of parse(text)) {
      if (block.t === "p") renderInline(block.c, frag.appendChild(el("p")));
      else {
        const list = frag.appendChild(el(block.t));
        if (block.t === "ol" && block.start !== 1) list.start = block.start;
        for (const item of block.items) renderInline(item, list.appendChild(el("li")));
      }
    }
    return frag;
  }

  // ---- state and server calls ----------------------------------------------------------------
  const state = {
    token: null, visitor: null, look: null, unread: 0, open: false, ws: null, live: false,
    attempts: 0, retry: null, readSent: 0, seq: 0, typing: false, started: null, complete: false,
    messages: new Map(), pending: new Map(), drafts: new Map(),
  };
  try { state.token = localStorage.getItem(STORE); } catch (_) { /* storage blocked: one visit */ }

  function setToken(token) {
    state.token = token;
    try { token ? localStorage.setItem(STORE, token) : localStorage.removeItem(STORE); } catch (_) { /* ignore */ }
  }

  async function call(action, body) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await fetch(API + action, {
      method: "POST", mode: "cors", credentials: "omit", headers, body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw Object.assign(new Error(data.message || `HTTP ${response.status}`), { status: response.status, code: data.error, data });
    return data;
  }

  function newId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ---- the interface -------------------------------------------------------------------------
  const ICON_CHAT = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  const ICON_CLOSE = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  const ICON_SEND = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 20l18-8L3 4v6l12 2-12 2z"/></svg>';
  const CSS = `
:host{all:initial!important;position:fixed!important;z-index:2147483000!important;bottom:20px!important;right:20px!important;left:auto!important;top:auto!important;display:block!important;width:auto!important;height:auto!important;margin:0!important;padding:0!important;border:0!important;transform:none!important;opacity:1!important;visibility:visible!important;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif!important;color-scheme:light dark}
:host([data-position=left]){right:auto!important;left:20px!important}
*{box-sizing:border-box;font:inherit;color:inherit;margin:0;padding:0;border:0;background:none}
[hidden]{display:none!important}
.w{--bg:#fff;--fg:#111827;--muted:#6b7280;--bot:#f1f5f9;--line:#e5e7eb;color:var(--fg)}
@media (prefers-color-scheme:dark){.w{--bg:#111827;--fg:#f3f4f6;--muted:#9ca3af;--bot:#1f2937;--line:#374151}}
button{cursor:pointer;display:inline-flex;align-items:center;justify-content:center}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
svg{width:24px;height:24px;fill:currentColor;stroke:currentColor;stroke-width:0}
.launcher{position:relative;width:58px;height:58px;border-radius:50%;background:var(--accent);color:var(--on);box-shadow:0 6px 20px #0004}
.launcher svg{width:28px;height:28px}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;box-shadow:0 0 0 2px var(--bg)}
.panel{position:fixed;bottom:90px;right:20px;width:380px;height:min(620px,calc(100vh - 110px));display:flex;flex-direction:column;background:var(--bg);border-radius:16px;box-shadow:0 12px 40px #0005;overflow:hidden}
:host([data-position=left]) .panel{right:auto;left:20px}
header{display:flex;align-items:center;gap:12px;padding:14px 14px 14px 16px;background:var(--accent);color:var(--on)}
.avatar{width:40px;height:40px;border-radius:50%;flex:none;display:flex;align-items:center;justify-content:center;font-weight:700;font-size:18px;background:#fff3;overflow:hidden}
.avatar img{width:100%;height:100%;object-fit:cover}
.title{flex:1;min-width:0}h2{font-size:16px;font-weight:700;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.status{font-size:12px;opacity:.85}
.close{width:36px;height:36px;border-radius:50%}.close:hover{background:#fff2}
.close svg{stroke-width:2.4;fill:none}
.log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px;scroll-behavior:smooth}
.msg{display:flex;flex-direction:column;max-width:85%;align-self:flex-start}
.msg.me{align-self:flex-end;align-items:flex-end}
.bubble{padding:9px 13px;border-radius:16px 16px 16px 4px;background:var(--bot);overflow-wrap:anywhere}
.me .bubble{border-radius:16px 16px 4px 16px;background:var(--accent);color:var(--on)}
.bubble p+p,.bubble p+ul,.bubble p+ol,.bubble ul+p,.bubble ol+p{margin-top:8px}
.bubble ul,.bubble ol{padding-left:20px}
.bubble strong{font-weight:700}.bubble em{font-style:italic}
.bubble code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;background:#0001;padding:1px 4px;border-radius:4px}
.bubble a{text-decoration:underline;color:inherit}
.bubble img{display:block;max-width:100%;border-radius:10px;margin:4px 0}
.draft .bubble{opacity:.75}
.note{font-size:12px;color:var(--muted);margin-top:3px}.failed .bubble{opacity:.6}.failed .note{color:#dc2626}
.choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.choice{padding:7px 13px;border-radius:16px;border:1.5px solid var(--accent);color:var(--fg);background:var(--bg);font-size:14px}
.choice:hover{background:var(--accent);color:var(--on)}
.typing{display:flex;gap:4px;padding:12px 14px;border-radius:16px 16px 16px 4px;background:var(--bot);width:max-content}
.typing i{width:7px;height:7px;border-radius:50%;background:var(--muted);animation:b 1.2s infinite}
.typing i:nth-child(2){animation-delay:.2s}.typing i:nth-child(3){animation-delay:.4s}
@keyframes b{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}
@media (prefers-reduced-motion:reduce){.typing i{animation:none}.log{scroll-behavior:auto}}
.alert{padding:6px 16px;font-size:13px;color:#dc2626}
form{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid var(--line)}
textarea{flex:1;resize:none;max-height:120px;padding:9px 12px;border:1px solid var(--line);border-radius:18px;background:var(--bg);line-height:1.4}
textarea::placeholder{color:var(--muted)}
.send{width:40px;height:40px;border-radius:50%;background:var(--accent);color:var(--on);flex:none}
.send:disabled{opacity:.4;cursor:default}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border-radius:0}:host([data-open]) .launcher{display:none}}
`;
  const TEMPLATE = `<style>${CSS}</style><div class="w">
<button class="launcher" type="button" aria-haspopup="dialog" aria-expanded="false" aria-controls="panel">${ICON_CHAT}<span class="badge" aria-hidden="true" hidden></span></button>
<section class="panel" id="panel" role="dialog" aria-modal="true" aria-labelledby="title" hidden>
<header><span class="avatar" aria-hidden="true"></span><div class="title"><h2 id="title"></h2><p class="status"></p></div><button class="close" type="button" aria-label="Close chat">${ICON_CLOSE}</button></header>
<div class="log" role="log" aria-live="polite" aria-label="Conversation" tabindex="0"></div>
<p class="alert" role="alert" hidden></p>
<form><textarea rows="1" aria-label="Message" placeholder="Write a message…"></textarea><button class="send" type="submit" aria-label="Send">${ICON_SEND}</button></form>
</section></div>`;

  let ui = null;

  function contrast(hex) {
    const [r, g, b] = [1, 3, 5].map((k) => {
      const c = parseInt(hex.slice(k, k + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.4 ? "#111827" : "#ffffff";
  }

  function build(look) {
    const host = document.createElement("coachbot-widget");
    const root = host.attachShadow({ mode: "open" });
    root.innerHTML = TEMPLATE; // a constant: no bot, user or embedder text goes through innerHTML
    const $ = (sel) => root.querySelector(sel);
    const color = /^#[0-9a-f]{6}$/i.test(look.color || "") ? look.color : "#2563eb";
    const w = $(".w");
    w.style.setProperty("--accent", color);
    w.style.setProperty("--on", contrast(color));
    if (look.position === "left") host.dataset.position = "left";
    $("h2").textContent = look.name;
    const avatar = $(".avatar");
    if (look.avatar && /^https?:\/\//i.test(look.avatar)) {
      const img = el("img");
      img.alt = "";
      img.src = look.avatar;
      avatar.append(img);
    } else avatar.textContent = (look.name || "?").trim().charAt(0).toUpperCase();
    ui = {
      host, root, launcher: $(".launcher"), badge: $(".badge"), panel: $(".panel"), log: $(".log"),
      status: $(".status"), alert: $(".alert"), form: $("form"), input: $("textarea"), send: $(".send"),
      close: $(".close"),
    };
    ui.launcher.addEventListener("click", () => (state.open ? close() : open()));
    ui.close.addEventListener("click", () => close());
    ui.panel.addEventListener("keydown", onKey);
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    ui.input.addEventListener("input", grow);
    document.body.appendChild(host);
    setUnread(state.unread);
    render();
  }

  function grow() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, 120)}px`;
  }

  function focusables() {
    return [...ui.panel.querySelectorAll("button:not([disabled]),textarea,a[href],[tabindex='0']")].filter((n) => n.offsetParent !== null || n === ui.input);
  }

  function onKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Tab") { // keep focus inside the open dialog
      const items = focusables();
      if (!items.length) return;
      const first = items[0], last = items[items.length - 1], active = ui.root.activeElement;
      if (event.shiftKey && (active === first || !ui.panel.contains(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && active === last) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  function open() {
    if (!ui) return;
    state.open = true;
    ui.panel.hidden = false;
    ui.host.dataset.open = "";
    ui.launcher.setAttribute("aria-expanded", "true");
    scrollDown();
    ui.input.focus();
    markRead();
  }

  function close() {
    if (!ui || !state.open) return;
    state.open = false;
    ui.panel.hidden = true;
    delete ui.host.dataset.open;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  function setUnread(count) {
    state.unread = Math.max(0, count | 0);
    if (!ui) return;
    ui.badge.hidden = state.unread === 0;
    ui.badge.textContent = state.unread > 99 ? "99+" : String(state.unread);
    const name = state.look ? state.look.name : "chat";
    ui.launcher.setAttribute("aria-label", state.unread ? `Open chat with ${name}, ${state.unread} unread` : `Open chat with ${name}`);
  }

  function setStatus(text) {
    if (ui) ui.status.textContent = text;
  }

  function showAlert(text) {
    if (!ui) return;
    ui.alert.textContent = text || "";
    ui.alert.hidden = !text;
  }

  // ---- messages ------------------------------------------------------------------------------
  const keyOf = (m) => (m.dir === "in" && m.cid ? `c:${m.cid}` : `i:${m.id}`);

  // Messages show in the order they reached this page; a batch from the server (the history)
  // comes in id order. (Local messages have no id until the server stores them.)
  function merge(list, older = false) {
    let added = 0;
    const batch = [...list].sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity));
    let low = Math.min(0, ...[...state.messages.values()].map((m) => m.seq)) - batch.length;
    for (const m of batch) {
      const key = keyOf(m);
      const known = state.messages.get(key);
      if (!known && m.dir === "out") added++;
      const seq = known ? known.seq : older ? ++low : ++state.seq; // an older page goes first
      state.messages.set(key, Object.assign({ seq }, known, m, { pending: m.pending || false }));
      if (m.dir === "out" && m.turn) state.drafts.delete(m.turn);
    }
    render();
    return added;
  }

  function ordered() {
    return [...state.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  function bubble(m, cls) {
    const row = el("div", `msg ${m.dir === "in" ? "me" : "bot"} ${cls || ""}`);
    row.append(el("span", "sr", m.dir === "in" ? "You:" : `${state.look.name}:`));
    const box = row.appendChild(el("div", "bubble"));
    if (m.text) box.append(markdown(m.text));
    for (const media of m.media || []) {
      if (!/^https?:\/\//i.test(media.url || "")) continue;
      if (media.kind === "image") {
        const img = el("img");
        img.src = media.url;
        img.alt = media.caption || "";
        img.loading = "lazy";
        box.append(img);
        if (media.caption) box.append(markdown(media.caption));
      } else {
        const a = el("a", null, media.caption || media.url.split("/").pop() || media.url);
        a.href = media.url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        box.append(el("p")).append(a);
      }
    }
    if (m.failed) row.append(el("span", "note", `Not sent: ${m.failed}`));
    return row;
  }

  // Rows are kept by key and only replaced when they change, so the live region announces new
  // messages, not the whole conversation again.
  const rows = new Map();

  function wanted() {
    const list = ordered(), last = list[list.length - 1], want = [];
    const add = (key, m, cls, extra) => want.push({ key, sig: JSON.stringify([m.text, m.media, m.failed, cls, extra]), make: () => bubble(m, cls) });
    add("greeting", { dir: "out", text: state.look.greeting || "" }, "greeting");
    for (const m of list) {
      const choices = m === last && m.dir === "out" && m.choices && m.choices.length ? m.choices : null;
      want.push({
        key: keyOf(m), sig: JSON.stringify([m.text, m.media, m.failed, choices]),
        make: () => {
          const node = bubble(m, m.failed ? "failed" : "");
          if (choices) node.append(choiceBar(choices));
          return node;
        },
      });
    }
    for (const [turn, text] of state.drafts) want.push({ key: `d:${turn}`, sig: text, make: () => hide(bubble({ dir: "out", text }, "draft")) });
    if (state.typing && !state.drafts.size) {
      want.push({ key: "typing", sig: "", make: () => {
        const dots = hide(el("div", "typing"));
        dots.append(el("i"), el("i"), el("i"));
        return dots;
      } });
    }
    return want;
  }

  const hide = (node) => (node.setAttribute("aria-hidden", "true"), node); // drafts: the final message is announced

  function choiceBar(choices) {
    const bar = el("div", "choices");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Choices");
    for (const choice of choices) {
      const button = bar.appendChild(el("button", "choice", choice.label));
      button.type = "button";
      button.addEventListener("click", () => {
        send(null, choice);
        ui.input.focus();
      });
    }
    return bar;
  }

  function render() {
    if (!ui) return;
    const log = ui.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const want = wanted();
    const keep = new Set(want.map((w) => w.key));
    for (const [key, row] of rows) if (!keep.has(key)) (row.node.remove(), rows.delete(key));
    let cursor = log.firstChild;
    for (const w of want) {
      let row = rows.get(w.key);
      if (row && row.sig !== w.sig) {
        const fresh = w.make();
        if (cursor === row.node) cursor = fresh;
        row.node.replaceWith(fresh);
        row = { sig: w.sig, node: fresh };
        rows.set(w.key, row);
      } else if (!row) {
        row = { sig: w.sig, node: w.make() };
        rows.set(w.key, row);
      }
      if (row.node === cursor) cursor = cursor.nextSibling;
      else log.insertBefore(row.node, cursor);
    }
    if (atBottom || state.open) scrollDown();
  }

  function scrollDown() {
    if (ui) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function maxOutId() {
    let max = 0;
    for (const m of state.messages.values()) if (m.dir === "out" && m.id > max) max = m.id;
    return max;
  }

  function markRead() {
    if (!state.open || document.visibilityState === "hidden") return;
    setUnread(0);
    const upTo = maxOutId();
    if (upTo <= state.readSent) return;
    state.readSent = upTo;
    if (!sendFrame({ type: "read", up_to: upTo })) call("read", { up_to: upTo }).catch(() => { state.readSent = 0; });
  }

  function sendFrame(frame) {
    if (!state.live || !state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function submit() {
    const text = ui.input.value;
    if (!text.trim()) return;
    if (new TextEncoder().encode(text).length > MAX_BYTES) {
      showAlert(`Your message is too long (at most ${MAX_BYTES} bytes). Please shorten it.`);
      return;
    }
    ui.input.value = "";
    grow();
    send(text, null);
  }

  function send(text, choice) {
    const cid = newId();
    const frame = choice ? { type: "send", id: cid, choice: choice.payload } : { type: "send", id: cid, text };
    showAlert("");
    merge([{ id: null, dir: "in", cid, text: choice ? choice.label : text, at: new Date().toISOString(), pending: true }]);
    state.pending.set(cid, { frame, timer: null });
    transmit(cid);
  }

  function transmit(cid) {
    const entry = state.pending.get(cid);
    if (!entry) return;
    clearTimeout(entry.timer);
    if (sendFrame(entry.frame)) entry.timer = setTimeout(() => fallback(cid), ACK_TIMEOUT);
    else fallback(cid);
  }

  async function fallback(cid) { // the socket is down or silent: send over HTTP (same id: no double)
    const entry = state.pending.get(cid);
    if (!entry || entry.http) return;
    entry.http = true;
    setTyping(true);
    try {
      const reply = await call("send", entry.frame);
      state.pending.delete(cid);
      arrived(reply.messages || []);
    } catch (error) {
      if (error.status && error.status !== 401 && error.status < 500) failed(cid, error.message);
      else entry.http = false; // offline: tried again when the socket is back
    } finally {
      setTyping(false);
    }
  }

  function failed(cid, reason) {
    const entry = state.pending.get(cid);
    if (entry) clearTimeout(entry.timer);
    state.pending.delete(cid);
    const m = state.messages.get(`c:${cid}`);
    if (m) m.failed = reason;
    showAlert(reason);
    render();
  }

  function arrived(list) {
    const fresh = merge(list);
    if (!fresh) return;
    if (state.open && document.visibilityState !== "hidden") markRead();
    else setUnread(state.unread + fresh);
  }

  async function loadOlder(first) { // `ready` has the latest messages: fetch the rest, page by page
    if (state.loadingOlder) return;
    state.loadingOlder = true;
    try {
      let before = Math.min(...first.filter((m) => m.id).map((m) => m.id));
      for (let pages = 0; pages < 25 && Number.isFinite(before); pages++) {
        const page = await call("history", { before, limit: 200 });
        merge(page.messages || [], true);
        if (!page.more || !(page.messages || []).length) {
          state.complete = true;
          break;
        }
        before = page.messages[0].id;
      }
    } catch (_) {
      /* the latest messages are shown; the rest on the next connection */
    } finally {
      state.loadingOlder = false;
    }
  }

  function setTyping(on) {
    state.typing = on;
    render();
  }

  // ---- the socket ----------------------------------------------------------------------------
  function onFrame(f) {
    switch (f.type) {
      case "ready":
        state.live = true;
        state.attempts = 0;
        state.visitor = f.visitor;
        setStatus("");
        merge(f.messages || []);
        if (f.more && !state.complete) loadOlder(f.messages || []);
        setUnread(f.unread);
        markRead();
        for (const cid of state.pending.keys()) transmit(cid);
        break;
      case "message":
        arrived([f.message]);
        break;
      case "ack": {
        const entry = state.pending.get(f.id);
        if (entry) clearTimeout(entry.timer);
        state.pending.delete(f.id);
        break;
      }
      case "typing":
        if (!f.on) state.drafts.clear();
        setTyping(!!f.on);
        break;
      case "stream":
        state.drafts.set(f.turn, (state.drafts.get(f.turn) || "") + f.text);
        render();
        break;
      case "read":
        if (f.up_to >= maxOutId()) setUnread(0);
        break;
      case "error":
        if (f.id && state.pending.has(f.id)) failed(f.id, f.message);
        else showAlert(f.message);
        break;
    }
  }

  function connect() {
    clearTimeout(state.retry);
    let ws;
    try {
      ws = new WebSocket(SOCKET);
    } catch (_) {
      return reconnectLater();
    }
    state.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "hello", token: state.token, locale: navigator.language }));
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      if (state.ws === ws && frame && typeof frame === "object") onFrame(frame);
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.live = false;
      if (state.typing) setTyping(false);
      if (event.code === 4401) return renew(); // the server does not know this visitor
      if (event.code === 4404) return setStatus("Chat unavailable");
      setStatus("Reconnecting…");
      for (const cid of state.pending.keys()) fallback(cid);
      reconnectLater();
    };
  }

  function reconnectLater() { // exponential backoff with jitter, at most 30 s apart
    const delay = Math.min(30000, 500 * 2 ** state.attempts) * (0.5 + Math.random() / 2);
    state.attempts = Math.min(state.attempts + 1, 10);
    state.retry = setTimeout(connect, delay);
  }

  function reconnect() {
    const ws = state.ws;
    state.ws = null;
    state.live = false;
    if (ws) ws.close(1000);
    state.attempts = 0;
    connect();
  }

  async function renew() { // forged, altered or revoked token: start again as a new visitor
    setToken(null);
    state.messages.clear();
    state.complete = false;
    render();
    try {
      await start();
      reconnect();
    } catch (_) {
      reconnectLater();
    }
  }

  async function start() {
    let config;
    try {
      config = await call("config");
    } catch (error) {
      if (error.status !== 401) throw error;
      setToken(null);
      config = await call("config");
    }
    setToken(config.token);
    state.visitor = config.visitor;
    state.look = config.widget;
    return config;
  }

  // ---- the JS API ----------------------------------------------------------------------------
  async function identify(user) {
    await state.started;
    if (!user || user.id == null || !ui) return false;
    try {
      const result = await call("identify", { id: String(user.id), name: user.name, hash: user.hash });
      setToken(result.token);
      state.visitor = result.visitor;
      state.messages.clear();
      state.complete = false;
      state.readSent = 0;
      render();
      reconnect();
      return true;
    } catch (error) {
      console.warn("coachbot: identify was rejected:", error.message);
      return false;
    }
  }

  async function reset() {
    await state.started;
    if (!ui) return;
    setToken(null);
    state.messages.clear();
    state.complete = false;
    state.pending.clear();
    state.readSent = 0;
    setUnread(0);
    render();
    await start();
    reconnect();
  }

  // `_parse` is the Markdown parser, for the tests that hold it to engine/markup.py.
  const api = { version: 1, identify, reset, open: () => open(), close: () => close(), _parse: parse };
  window.coachbot = api;

  state.started = (async () => {
    try {
      const config = await start();
      state.unread = config.unread;
      build(config.widget);
      connect();
      window.addEventListener("online", () => { if (!state.ws) reconnect(); });
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") {
          if (!state.ws) reconnect();
          markRead();
        }
      });
      window.dispatchEvent(new CustomEvent("coachbot:ready"));
    } catch (error) {
      console.warn("coachbot: the chat widget is not available on this page:", error.message);
    }
  })();
  if (pre && Array.isArray(pre.q)) for (const [name, arg] of pre.q) if (typeof api[name] === "function") api[name](arg);
})();
