/*
 * Helpline chat widget.
 *
 * Embed on any page with one script tag:
 *
 *   <script src="https://HOST:5005/widget/widget.js" defer></script>
 *
 * Optional attributes on that tag:
 *   data-server    origin of the chat server (default: where this script came from)
 *   data-title     panel title (default "Helpline Assistant")
 *   data-color     accent colour (default a dark blue that passes WCAG AA with white text)
 *   data-exit-url  where "Quick exit" goes (default https://www.google.com)
 *   data-open      "true" to start with the panel open
 *
 * "Delete this chat" (under the message box) asks first, then has the server erase the
 * conversation (see docs/privacy.md) and starts a new one.
 *
 * Everything lives under <div id="helpline-widget">; the only global is
 * window.HelplineWidget = { open(), close() }. Text from the server or the visitor is
 * always inserted as text (textContent / text nodes), never parsed as HTML.
 */
(function () {
  "use strict";

  if (window.HelplineWidget || document.getElementById("helpline-widget")) {
    return; // already on the page
  }

  // ---------------------------------------------------------------------------
  // Configuration
  // ---------------------------------------------------------------------------

  var PREFIX = "helpline-widget:";
  var KEY_SESSION = PREFIX + "session";
  var KEY_ESCALATION = PREFIX + "escalation";
  var KEY_OPEN = PREFIX + "open";

  var DEFAULT_TITLE = "Helpline Assistant";
  var DEFAULT_COLOR = "#1b4a86"; // white text on it: about 8.9:1
  var DEFAULT_EXIT_URL = "https://www.google.com";
  var MAX_LENGTH = 2000;
  var TYPING_TIMEOUT_MS = 15000;
  var OFFLINE_AFTER_MS = 4000; // a dropped connection counts as "offline" if not back by then

  // most urgent first; "check": the assistant was unsure and asked whether the visitor is safe
  var TIER_ORDER = ["emergency", "suicide", "medical", "check"];
  // the emergency bar's own words, in the language of the crisis reply (escalation.lang)
  var BAR_TEXT = {
    en: {
      titles: {
        emergency: "Emergency: call 911 now",
        suicide: "You are not alone: call or text 988",
        medical: "Get medical care now",
        check: "If you need help now: 988 or 911"
      },
      fallbackTitle: "Get help now",
      call: "Call ",
      text: "Text ",
      more: "More",
      less: "Less",
      details: "All lines and websites",
      newTab: " (opens in a new tab)"
    },
    es: {
      titles: {
        emergency: "Emergencia: llame al 911 ahora",
        suicide: "No está solo: llame o envíe texto al 988",
        medical: "Busque atención médica ahora",
        check: "Si necesita ayuda ahora: 988 o 911"
      },
      fallbackTitle: "Busque ayuda ahora",
      call: "Llamar al ",
      text: "Texto al ",
      more: "Más",
      less: "Menos",
      details: "Todas las líneas y sitios web",
      newTab: " (se abre en otra pestaña)"
    }
  };
  // the handoff status, in the language of the latest crisis reply (escalation.lang); English otherwise
  var HANDOFF_TEXT = {
    en: {
      waiting: "Asking our helpline team to join this chat…",
      position: function (n) { return " You are number " + n + " in the queue."; },
      staff: function (name) { return "You're chatting with " + name + " from our helpline team."; },
      someone: "You're chatting with a member of our helpline team.",
      cancel: "Cancel and go back to the assistant",
      cancelling: "Cancelling…"
    },
    es: {
      waiting: "Estamos pidiendo a nuestro equipo que se una a este chat…",
      position: function (n) { return " Usted es el número " + n + " en la fila."; },
      staff: function (name) { return "Está hablando con " + name + ", de nuestro equipo."; },
      someone: "Está hablando con una persona de nuestro equipo.",
      cancel: "Cancelar y volver al asistente",
      cancelling: "Cancelando…"
    }
  };
  var DEFAULT_LINES = {
    emergency: [{ name: "Emergency services", phone: "911" }],
    suicide: [{ name: "988 Suicide & Crisis Lifeline", phone: "988", sms: "988" }],
    medical: [{ name: "Emergency services", phone: "911" }],
    check: [{ name: "988 Suicide & Crisis Lifeline", phone: "988", sms: "988" }, { name: "Emergency services", phone: "911" }]
  };

  var script = document.currentScript || findOwnScript();
  var scriptSrc = script && script.src ? script.src : window.location.href;

  function findOwnScript() {
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/widget\.js(?:[?#]|$)/.test(scripts[i].src || "")) {
        return scripts[i];
      }
    }
    return null;
  }

  function readAttr(name) {
    var value = script ? script.getAttribute(name) : null;
    return value ? String(value).trim() : "";
  }

  function originOf(url) {
    try {
      var origin = new URL(url, window.location.href).origin;
      return origin && origin !== "null" ? origin : window.location.origin;
    } catch (e) {
      return window.location.origin;
    }
  }

  function httpUrl(value) {
    if (!value) {
      return "";
    }
    try {
      var url = new URL(value, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : "";
    } catch (e) {
      return "";
    }
  }

  var config = {
    server: (httpUrl(readAttr("data-server")) || originOf(scriptSrc)).replace(/\/+$/, ""),
    title: readAttr("data-title") || DEFAULT_TITLE,
    color: readAttr("data-color") || DEFAULT_COLOR,
    exitUrl: httpUrl(readAttr("data-exit-url")) || DEFAULT_EXIT_URL,
    startOpen: readAttr("data-open").toLowerCase() === "true"
  };

  var cssUrl;
  try {
    cssUrl = new URL("widget.css", scriptSrc).href;
  } catch (e) {
    cssUrl = config.server + "/widget/widget.css";
  }

  // ---------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------

  // sessionStorage only (never localStorage): it ends with the tab. It can throw
  // (privacy modes, disabled storage), so every access is guarded.
  var storage = {
    get: function (key) {
      try {
        return window.sessionStorage.getItem(key);
      } catch (e) {
        return null;
      }
    },
    set: function (key, value) {
      try {
        window.sessionStorage.setItem(key, value);
      } catch (e) {
        /* storage unavailable: the widget still works for this page view */
      }
    },
    remove: function (key) {
      try {
        window.sessionStorage.removeItem(key);
      } catch (e) {
        /* ignore */
      }
    },
    clearWidgetKeys: function () {
      try {
        var keys = [];
        for (var i = 0; i < window.sessionStorage.length; i++) {
          var key = window.sessionStorage.key(i);
          if (key && key.indexOf(PREFIX) === 0) {
            keys.push(key);
          }
        }
        keys.forEach(function (k) {
          window.sessionStorage.removeItem(k);
        });
      } catch (e) {
        /* ignore */
      }
    }
  };

  /**
   * Create an element. attrs: plain attributes, plus "text" (set as textContent)
   * and "class". children: nodes or strings (strings become text nodes).
   */
  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (key === "text") {
          node.textContent = String(value);
        } else if (key === "class") {
          node.className = value;
        } else {
          node.setAttribute(key, value === true ? "" : String(value));
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) {
        return;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function srOnly(text) {
    return h("span", { class: "hw-sr-only", text: text });
  }

  function asText(value) {
    if (value === null || value === undefined) {
      return "";
    }
    return typeof value === "string" ? value : String(value);
  }

  function firstName(name) {
    var text = asText(name).trim();
    return text ? text.split(/\s+/)[0] : "";
  }

  function tierRank(tier) {
    var index = TIER_ORDER.indexOf(tier);
    return index === -1 ? TIER_ORDER.length : index;
  }

  // Keep digits, "+" and dashes exactly as given ("1-800-222-1222" stays as it is).
  function dialable(phone) {
    return asText(phone).replace(/[^0-9+\-]/g, "");
  }

  // ---------------------------------------------------------------------------
  // Accent colour (and a readable text colour on it)
  // ---------------------------------------------------------------------------

  function parseRgb(cssColor) {
    var m = /rgba?\(\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)/.exec(cssColor || "");
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v = v / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(l1, l2) {
    var hi = Math.max(l1, l2);
    var lo = Math.min(l1, l2);
    return (hi + 0.05) / (lo + 0.05);
  }

  function applyAccent(root) {
    var color = config.color;
    if (!(window.CSS && CSS.supports && CSS.supports("color", color))) {
      color = DEFAULT_COLOR;
    }
    root.style.setProperty("--hw-accent", color);
    // Pick white or near-black text, whichever contrasts more with the accent.
    var probe = h("span", { "aria-hidden": "true" });
    probe.style.color = color;
    probe.style.display = "none";
    root.appendChild(probe);
    var rgb = parseRgb(window.getComputedStyle(probe).color);
    root.removeChild(probe);
    if (rgb) {
      var l = luminance(rgb);
      var onAccent = contrast(l, 1) >= contrast(l, luminance([17, 17, 17])) ? "#ffffff" : "#111111";
      root.style.setProperty("--hw-accent-text", onAccent);
      root.classList.toggle("hw--light-accent", onAccent !== "#ffffff");
    }
  }

  // ---------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------

  var els = {};
  var isOpen = false;
  var socket = null;
  var ioLoading = false;
  var sessionId = null;
  var sessionReady = false; // session_confirm received on the current connection
  var pending = []; // visitor messages typed while offline: {text, el}
  var handoffState = null; // null | "waiting" | "connected"
  var escalation = null; // {tier, lines}
  var typingTimer = null;
  var offlineTimer = null;
  var connectionState = "connecting"; // matches the initial text of the state element
  var started = false;
  var openRequested = null; // open()/close() called before the page had a <body>
  var deleting = false; // "delete_chat" sent, "chat_deleted" not yet received

  // ---------------------------------------------------------------------------
  // Building the DOM
  // ---------------------------------------------------------------------------

  function build() {
    var root = h("div", { id: "helpline-widget", class: "hw-root" });
    // Hidden until widget.css has loaded (or failed to), to avoid a flash of unstyled content.
    root.style.visibility = "hidden";

    var launcher = h(
      "button",
      {
        type: "button",
        class: "hw-launcher",
        "data-testid": "launcher",
        "aria-expanded": "false",
        "aria-controls": "hw-panel"
      },
      [
        h("span", { class: "hw-launcher__icon", "aria-hidden": "true" }),
        h("span", { class: "hw-launcher__label", text: "Chat with us" }),
        h("span", { class: "hw-launcher__badge", hidden: true }) // filled while there is an unread message
      ]
    );

    var stateEl = h("p", {
      class: "hw-connection",
      "data-testid": "connection-state",
      "data-state": "connecting",
      role: "status",
      text: "Connecting…"
    });

    var quickExit = h("button", {
      type: "button",
      class: "hw-quick-exit",
      "data-testid": "quick-exit",
      text: "Quick exit",
      title: "Leave this site now and clear this chat"
    });

    var closeBtn = h("button", {
      type: "button",
      class: "hw-close",
      "data-testid": "close",
      "aria-label": "Close chat"
    }, [h("span", { "aria-hidden": "true", text: "×" })]);

    var header = h("div", { class: "hw-header" }, [
      h("div", { class: "hw-header__text" }, [
        h("h2", { id: "hw-title", class: "hw-title", text: config.title }),
        stateEl
      ]),
      h("div", { class: "hw-header__actions" }, [quickExit, closeBtn])
    ]);

    // The emergency bar is created when the first escalation arrives.
    var emergencySlot = h("div", { class: "hw-emergency-slot" });

    var handoffText = h("p", { class: "hw-handoff__text" });
    // In the strip only while waiting for a person.
    var handoffCancel = h("button", {
      type: "button",
      class: "hw-handoff__cancel",
      "data-testid": "handoff-cancel",
      text: "Cancel and go back to the assistant"
    });
    var handoffEl = h("div", { class: "hw-handoff", "data-testid": "handoff-status", hidden: true }, [
      handoffText
    ]);
    // A live region that is always rendered, so changes inside it are announced.
    var handoffLive = h("div", { class: "hw-handoff-live", role: "status" }, [handoffEl]);

    var intro = h("p", {
      class: "hw-intro",
      text: "Ask a question to start. You don't have to give your name."
    });

    var log = h("div", {
      class: "hw-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Conversation",
      "data-testid": "messages",
      tabindex: "0"
    }, [intro]);

    var typing = h("div", { class: "hw-typing", "data-testid": "typing", hidden: true }, [
      h("span", { class: "hw-typing__dots", "aria-hidden": "true" }, [
        h("span", { class: "hw-typing__dot" }),
        h("span", { class: "hw-typing__dot" }),
        h("span", { class: "hw-typing__dot" })
      ]),
      srOnly("The assistant is typing")
    ]);

    var input = h("textarea", {
      id: "hw-input",
      class: "hw-input",
      "data-testid": "input",
      rows: "1",
      maxlength: String(MAX_LENGTH),
      placeholder: "Type your message",
      autocomplete: "off",
      "aria-describedby": "hw-input-hint"
    });
    var sendBtn = h("button", { type: "submit", class: "hw-send", "data-testid": "send", text: "Send" });
    var hint = h("p", { id: "hw-input-hint", class: "hw-hint", text: "Enter to send, Shift+Enter for a new line." });
    var deleteChat = h("button", {
      type: "button",
      class: "hw-delete",
      "data-testid": "delete-chat",
      "aria-controls": "hw-confirm",
      "aria-expanded": "false",
      text: "Delete this chat"
    });
    var form = h("form", { class: "hw-form", novalidate: true }, [
      h("label", { for: "hw-input", class: "hw-sr-only", text: "Type your message" }),
      h("div", { class: "hw-form__row" }, [input, sendBtn]),
      h("div", { class: "hw-form__meta" }, [hint, deleteChat])
    ]);

    // Asked before a chat is deleted; the focus starts on "Keep", the safe answer.
    var confirmDelete = h("button", {
      type: "button",
      class: "hw-confirm__delete",
      "data-testid": "delete-confirm",
      text: "Delete"
    });
    var confirmKeep = h("button", { type: "button", class: "hw-confirm__keep", "data-testid": "delete-keep", text: "Keep" });
    var confirmNote = h("p", { class: "hw-confirm__note", role: "status" });
    var confirmEl = h("div", {
      id: "hw-confirm",
      class: "hw-confirm",
      role: "group",
      "aria-labelledby": "hw-confirm-text",
      "data-testid": "delete-dialog",
      hidden: true
    }, [
      h("p", {
        id: "hw-confirm-text",
        class: "hw-confirm__text",
        text: "Delete this chat? This removes the conversation from our records."
      }),
      h("div", { class: "hw-confirm__actions" }, [confirmDelete, confirmKeep]),
      confirmNote
    ]);

    var basicLines = h("p", { class: "hw-basic-lines", "data-testid": "basic-lines" }, [
      "In an emergency call ",
      h("a", { href: "tel:911", text: "911" }),
      " · Call or text ",
      h("a", { href: "tel:988", text: "988" })
    ]);

    var panel = h("section", {
      id: "hw-panel",
      class: "hw-panel",
      role: "dialog",
      "aria-labelledby": "hw-title",
      "data-testid": "panel",
      hidden: true
    }, [header, emergencySlot, handoffLive, log, typing, confirmEl, form, basicLines]);

    root.appendChild(panel);
    root.appendChild(launcher);

    els = {
      root: root,
      launcher: launcher,
      badge: launcher.querySelector(".hw-launcher__badge"),
      panel: panel,
      state: stateEl,
      quickExit: quickExit,
      close: closeBtn,
      emergencySlot: emergencySlot,
      emergencyBar: null,
      handoff: handoffEl,
      handoffText: handoffText,
      handoffCancel: handoffCancel,
      log: log,
      intro: intro,
      typing: typing,
      form: form,
      input: input,
      send: sendBtn,
      basicLines: basicLines,
      deleteChat: deleteChat,
      confirm: confirmEl,
      confirmDelete: confirmDelete,
      confirmKeep: confirmKeep,
      confirmNote: confirmNote
    };
  }

  function injectCss() {
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = cssUrl;
    var shown = false;
    function show() {
      if (!shown) {
        shown = true;
        els.root.style.visibility = "";
      }
    }
    link.addEventListener("load", show);
    link.addEventListener("error", show);
    window.setTimeout(show, 3000);
    (document.head || document.documentElement).appendChild(link);
  }

  // ---------------------------------------------------------------------------
  // Open / close
  // ---------------------------------------------------------------------------

  function openPanel(moveFocus) {
    if (!isOpen) {
      isOpen = true;
      els.panel.hidden = false;
      els.root.classList.add("hw--open");
      els.launcher.setAttribute("aria-expanded", "true");
      storage.set(KEY_OPEN, "1");
      setUnread(false);
      ensureSocket();
      scrollToEnd();
    }
    if (moveFocus !== false) {
      els.input.focus();
    }
  }

  // The panel fills the screen below this width (widget.css): Tab then stays inside it,
  // as in any modal dialog, instead of wandering to the hidden page behind.
  var phoneQuery = typeof window.matchMedia === "function" ? window.matchMedia("(max-width: 599.98px)") : null;

  function fullScreen() {
    return !!(phoneQuery && phoneQuery.matches);
  }

  function keepFocusInPanel(event) {
    var focusable = Array.prototype.filter.call(
      els.panel.querySelectorAll("a[href], button:not([disabled]), textarea:not([disabled]), input:not([disabled]), [tabindex]:not([tabindex='-1'])"),
      function (el) { return el.getClientRects().length > 0 || el === document.activeElement; }
    );
    if (!focusable.length) {
      return;
    }
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    var inside = els.panel.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  }

  function closePanel(returnFocus) {
    if (!isOpen) {
      return;
    }
    var hadFocus = els.panel.contains(document.activeElement);
    isOpen = false;
    els.panel.hidden = true;
    els.root.classList.remove("hw--open");
    els.launcher.setAttribute("aria-expanded", "false");
    storage.set(KEY_OPEN, "0");
    if (returnFocus || hadFocus) {
      els.launcher.focus();
    }
  }

  function setUnread(on) {
    var badge = els.badge;
    while (badge.firstChild) {
      badge.removeChild(badge.firstChild);
    }
    if (on) {
      badge.appendChild(h("span", { class: "hw-launcher__dot", "aria-hidden": "true" }));
      badge.appendChild(srOnly("(new message)"));
    }
    badge.hidden = !on;
    els.root.classList.toggle("hw--unread", !!on);
  }

  // ---------------------------------------------------------------------------
  // Connection state
  // ---------------------------------------------------------------------------

  var STATE_TEXT = {
    connected: "Connected",
    connecting: "Connecting…",
    disconnected: "Offline – you can still call the numbers below"
  };

  function setConnectionState(state) {
    if (state !== "connecting") {
      window.clearTimeout(offlineTimer);
      offlineTimer = null;
    }
    if (state === connectionState) {
      return;
    }
    connectionState = state;
    els.state.setAttribute("data-state", state);
    els.state.textContent = STATE_TEXT[state];
    els.root.classList.toggle("hw--offline", state === "disconnected");
    els.root.setAttribute("data-connection", state);
  }

  // A short drop shows "Connecting…"; only if it lasts does it show "Offline".
  function reconnecting() {
    setConnectionState("connecting");
    window.clearTimeout(offlineTimer);
    offlineTimer = window.setTimeout(function () {
      if (!socket || !socket.connected) {
        setConnectionState("disconnected");
      }
    }, OFFLINE_AFTER_MS);
  }

  // ---------------------------------------------------------------------------
  // Messages
  // ---------------------------------------------------------------------------

  function normalizeRole(value) {
    var role = asText(value).toLowerCase();
    if (role === "visitor" || role === "user") {
      return "visitor";
    }
    if (role === "staff" || role === "agent") {
      return "staff";
    }
    if (role === "system") {
      return "system";
    }
    return "bot";
  }

  function findEscalation(raw) {
    if (!raw || typeof raw !== "object") {
      return null;
    }
    var candidates = [raw.escalation, raw.custom && raw.custom.escalation];
    if (raw.custom && raw.custom.custom) {
      candidates.push(raw.custom.custom.escalation);
    }
    for (var i = 0; i < candidates.length; i++) {
      var c = candidates[i];
      if (c && typeof c === "object" && (c.tier || Array.isArray(c.lines))) {
        return c;
      }
    }
    return null;
  }

  function findReplies(raw) {
    var list = raw.quick_replies || raw.buttons || (raw.custom && raw.custom.quick_replies) || null;
    if (!Array.isArray(list)) {
      return [];
    }
    return list
      .filter(function (r) {
        return r && (r.title || r.payload);
      })
      .map(function (r) {
        var title = asText(r.title || r.payload);
        return { title: title, payload: asText(r.payload || r.title) };
      });
  }

  /** Turn a message from the server (live or history) into {role, text, staffName, replies, escalation}. */
  function normalizeMessage(raw, fromHistory) {
    if (typeof raw === "string") {
      raw = { text: raw };
    }
    if (!raw || typeof raw !== "object") {
      return null;
    }
    var role = normalizeRole(fromHistory ? raw.role || raw.sender : raw.sender || raw.role);
    return {
      role: role,
      text: asText(raw.text),
      staffName: asText(raw.staff_name),
      replies: role === "bot" ? findReplies(raw) : [],
      escalation: findEscalation(raw)
    };
  }

  function scrollToEnd() {
    var log = els.log;
    log.scrollTop = log.scrollHeight;
  }

  function hideIntro() {
    if (els.intro.parentNode) {
      els.intro.parentNode.removeChild(els.intro);
    }
  }

  function appendMessage(msg) {
    hideIntro();
    var node = h("div", {
      class: "hw-msg hw-msg--" + msg.role,
      "data-testid": "message",
      "data-role": msg.role
    });
    if (msg.role === "staff") {
      var name = firstName(msg.staffName);
      node.appendChild(h("span", {
        class: "hw-msg__label",
        "data-testid": "staff-label",
        text: name ? name + " (helpline staff)" : "Helpline staff"
      }));
    }
    node.appendChild(h("p", { class: "hw-msg__text", "data-testid": "message-text", text: msg.text }));
    els.log.appendChild(node);
    scrollToEnd();
    return node;
  }

  function removeQuickReplies() {
    var groups = els.log.querySelectorAll(".hw-replies");
    for (var i = 0; i < groups.length; i++) {
      groups[i].parentNode.removeChild(groups[i]);
    }
  }

  function renderQuickReplies(replies) {
    removeQuickReplies();
    if (!replies.length) {
      return;
    }
    var group = h("div", { class: "hw-replies", role: "group", "aria-label": "Suggested replies" });
    replies.forEach(function (reply) {
      var button = h("button", {
        type: "button",
        class: "hw-reply",
        "data-testid": "quick-reply",
        "data-payload": reply.payload,
        text: reply.title
      });
      button.addEventListener("click", function () {
        var buttons = group.querySelectorAll("button");
        for (var i = 0; i < buttons.length; i++) {
          buttons[i].disabled = true;
        }
        els.input.focus(); // the buttons are about to go
        sendVisitorMessage(reply.payload, reply.title);
      });
      group.appendChild(button);
    });
    els.log.appendChild(group);
    scrollToEnd();
  }

  /** Show one message from the server (or from history) and apply its side effects. */
  function showServerMessage(raw, fromHistory) {
    var msg = normalizeMessage(raw, fromHistory);
    if (!msg) {
      return null;
    }
    if (msg.escalation) {
      addEscalation(msg.escalation);
    }
    if (!msg.text) {
      return msg; // e.g. {custom: {escalation}}: the bar is all there is to show
    }
    appendMessage(msg);
    if (!fromHistory) {
      if (msg.replies.length) {
        renderQuickReplies(msg.replies);
      }
      if (!isOpen && msg.role !== "visitor") {
        setUnread(true);
      }
    }
    return msg;
  }

  function showSystemNotice(text) {
    appendMessage({ role: "system", text: asText(text) });
  }

  function clearChat() {
    removeQuickReplies();
    var nodes = els.log.querySelectorAll("[data-testid='message']");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].parentNode.removeChild(nodes[i]);
    }
    hideTyping();
  }

  function renderHistory(history) {
    clearChat();
    var last = null;
    history.forEach(function (entry) {
      var msg = showServerMessage(entry, true);
      if (msg && msg.text) {
        last = msg;
      }
    });
    // Only the last message's quick replies still make sense.
    if (last && last.role === "bot" && last.replies.length) {
      renderQuickReplies(last.replies);
    }
    reshowPending();
  }

  // Messages typed while offline are not in any history yet: keep showing them.
  function reshowPending() {
    pending.forEach(function (p) {
      p.el = appendMessage({ role: "visitor", text: p.display });
      markPending(p.el, true);
    });
  }

  // ---------------------------------------------------------------------------
  // Typing indicator
  // ---------------------------------------------------------------------------

  function showTyping() {
    els.typing.hidden = false;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    scrollToEnd();
  }

  function hideTyping() {
    window.clearTimeout(typingTimer);
    typingTimer = null;
    els.typing.hidden = true;
  }

  // ---------------------------------------------------------------------------
  // Emergency bar
  // ---------------------------------------------------------------------------

  function cleanLines(lines) {
    if (!Array.isArray(lines)) {
      return [];
    }
    return lines
      .filter(function (line) {
        return line && typeof line === "object";
      })
      .map(function (line) {
        return {
          name: asText(line.name),
          phone: asText(line.phone),
          sms: asText(line.sms),
          url: httpUrl(asText(line.url))
        };
      })
      .filter(function (line) {
        return line.phone || line.sms || line.url;
      });
  }

  function lineKey(line) {
    return [dialable(line.phone), dialable(line.sms), line.url].join("|");
  }

  /** Merge a new escalation into the current one: the most urgent tier's title, every line once. */
  function mergeEscalation(current, incoming) {
    var tier = TIER_ORDER.indexOf(incoming.tier) !== -1 ? incoming.tier : null;
    var lines = cleanLines(incoming.lines);
    if (!lines.length && tier) {
      lines = cleanLines(DEFAULT_LINES[tier]);
    }
    var lang = BAR_TEXT[incoming.lang] ? incoming.lang : (current && current.lang) || "en";
    var next = { tier: tier, lines: lines, lang: lang };
    if (!current) {
      return next;
    }
    var first = tierRank(next.tier) <= tierRank(current.tier) ? next : current;
    var second = first === next ? current : next;
    var seen = {};
    var merged = [];
    first.lines.concat(second.lines).forEach(function (line) {
      var key = lineKey(line);
      if (!seen[key]) {
        seen[key] = true;
        merged.push(line);
      }
    });
    // the newest reply's language: the visitor may have switched
    return { tier: first.tier || second.tier, lines: merged, lang: lang };
  }

  function addEscalation(raw) {
    escalation = mergeEscalation(escalation, raw);
    storage.set(KEY_ESCALATION, JSON.stringify(escalation));
    renderEscalation();
  }

  // A long number ("1-800-222-1222") is named on its button instead ("Call Poison Help"); the
  // full name, with its "only if awake and breathing", is the button's accessible name and is
  // in the details below.
  function callLabel(words, line) {
    var number = dialable(line.phone);
    var name = (line.name || "").split(/[(,]/)[0].trim();
    return number.length <= 6 || !name ? words.call + line.phone : words.call.replace(/ al $/, " a ") + name;
  }

  function describe(prefix, line, number) {
    return prefix + number + (line.name ? " (" + line.name + ")" : "");
  }

  /* The bar is compact, so the conversation stays in view on a phone: the title with a toggle
     ("More") for each line's name, number and website, then one row of tap-to-call and
     tap-to-text buttons. Nothing the visitor needs to act on is behind the toggle. */
  function renderEscalation() {
    if (!escalation) {
      return;
    }
    var bar = els.emergencyBar;
    if (!bar) {
      // role="alert" on a newly inserted element makes screen readers announce it at once.
      bar = h("div", { class: "hw-emergency", "data-testid": "emergency-bar", role: "alert" });
      els.emergencyBar = bar;
    }
    var words = BAR_TEXT[escalation.lang] || BAR_TEXT.en;
    var expanded = bar.getAttribute("data-expanded") === "true";
    bar.setAttribute("data-tier", escalation.tier || "other");
    bar.setAttribute("lang", escalation.lang === "es" ? "es" : "en");
    bar.setAttribute("data-expanded", expanded ? "true" : "false");
    while (bar.firstChild) {
      bar.removeChild(bar.firstChild);
    }
    var head = h("div", { class: "hw-emergency__head" }, [h("p", {
      class: "hw-emergency__title",
      text: words.titles[escalation.tier] || words.fallbackTitle
    })]);
    bar.appendChild(head);
    var quick = h("div", { class: "hw-emergency__quick", "data-testid": "emergency-quick" });
    var details = h("ul", { id: "hw-emergency-details", class: "hw-emergency__lines", hidden: !expanded });
    escalation.lines.forEach(function (line) {
      if (line.phone && dialable(line.phone)) {
        quick.appendChild(h("a", {
          class: "hw-emergency__link",
          "data-testid": "emergency-call",
          href: "tel:" + dialable(line.phone),
          "aria-label": describe(words.call, line, line.phone),
          text: callLabel(words, line)
        }));
      }
      if (line.sms && dialable(line.sms)) {
        quick.appendChild(h("a", {
          class: "hw-emergency__link",
          "data-testid": "emergency-text",
          href: "sms:" + dialable(line.sms),
          "aria-label": describe(words.text, line, line.sms),
          text: words.text + line.sms
        }));
      }
      var item = h("li", { class: "hw-emergency__line" });
      item.appendChild(h("span", {
        class: "hw-emergency__name",
        text: [line.name, line.phone].filter(Boolean).join(": ")
      }));
      if (line.url) {
        item.appendChild(h("a", {
          class: "hw-emergency__web",
          "data-testid": "emergency-url",
          href: line.url,
          target: "_blank",
          rel: "noopener noreferrer"
        }, [
          line.url.replace(/^https?:\/\//, "").replace(/\/$/, ""),
          srOnly(words.newTab)
        ]));
      }
      details.appendChild(item);
    });
    var toggle = h("button", {
      type: "button",
      class: "hw-emergency__toggle",
      "data-testid": "emergency-toggle",
      "aria-expanded": expanded ? "true" : "false",
      "aria-controls": "hw-emergency-details",
      "aria-label": words.details,
      text: expanded ? words.less : words.more
    });
    toggle.addEventListener("click", function () {
      var open = bar.getAttribute("data-expanded") !== "true";
      bar.setAttribute("data-expanded", open ? "true" : "false");
      details.hidden = !open;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      toggle.textContent = open ? words.less : words.more;
    });
    head.appendChild(toggle);
    bar.appendChild(quick);
    bar.appendChild(details);
    if (!bar.parentNode) {
      els.emergencySlot.appendChild(bar);
    }
    els.root.classList.add("hw--escalated");
    scrollToEnd(); // the bar takes room from the conversation: keep the newest message in view
  }

  function removeEscalation() {
    escalation = null;
    if (els.emergencyBar && els.emergencyBar.parentNode) {
      els.emergencyBar.parentNode.removeChild(els.emergencyBar);
    }
    els.emergencyBar = null;
    els.root.classList.remove("hw--escalated");
  }

  function restoreEscalation() {
    var saved = storage.get(KEY_ESCALATION);
    if (!saved) {
      return;
    }
    try {
      var data = JSON.parse(saved);
      if (data && typeof data === "object" && Array.isArray(data.lines)) {
        escalation = { tier: data.tier || null, lines: cleanLines(data.lines), lang: BAR_TEXT[data.lang] ? data.lang : "en" };
        renderEscalation();
      }
    } catch (e) {
      storage.remove(KEY_ESCALATION);
    }
  }

  // ---------------------------------------------------------------------------
  // Handoff status
  // ---------------------------------------------------------------------------

  function showCancel(on) {
    var button = els.handoffCancel;
    button.disabled = false;
    button.textContent = handoffWords().cancel;
    if (on && !button.parentNode) {
      els.handoff.appendChild(button);
    } else if (!on && button.parentNode) {
      var hadFocus = document.activeElement === button;
      button.parentNode.removeChild(button);
      if (hadFocus) {
        els.input.focus();
      }
    }
  }

  function handoffWords() {
    return HANDOFF_TEXT[escalation && escalation.lang] || HANDOFF_TEXT.en;
  }

  function applyHandoff(data) {
    var state = data && typeof data === "object" ? asText(data.state) : "";
    if (state === "waiting") {
      handoffState = "waiting";
      var position = data.position;
      var words = handoffWords();
      var text = words.waiting;
      if (typeof position === "number" && isFinite(position) && position > 0) {
        text += words.position(Math.round(position));
      }
      els.handoffText.textContent = text;
      showCancel(true);
      hideTyping(); // a person will answer, not the assistant
      els.handoff.setAttribute("data-state", "waiting");
      els.handoff.hidden = false;
    } else if (state === "connected") {
      handoffState = "connected";
      var name = firstName(data.staff_name);
      els.handoffText.textContent = name ? handoffWords().staff(name) : handoffWords().someone;
      showCancel(false);
      els.handoff.setAttribute("data-state", "connected");
      els.handoff.hidden = false;
      hideTyping();
    } else {
      handoffState = null;
      els.handoff.setAttribute("data-state", "ended");
      els.handoff.hidden = true;
      showCancel(false);
    }
  }

  function cancelHandoff() {
    els.handoffCancel.disabled = true;
    els.handoffCancel.textContent = handoffWords().cancelling;
    if (socket) {
      socket.emit("handoff_cancel", { session_id: sessionId });
    }
  }

  // ---------------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------------

  function canSend() {
    return !!(socket && socket.connected && sessionReady);
  }

  function markPending(el, on) {
    if (!el) {
      return;
    }
    var note = el.querySelector(".hw-msg__status");
    if (on && !note) {
      el.setAttribute("data-pending", "true");
      el.appendChild(h("span", {
        class: "hw-msg__status",
        "data-testid": "message-status",
        text: "Not sent yet: it will be sent when the connection is back."
      }));
    } else if (!on) {
      el.removeAttribute("data-pending");
      if (note) {
        note.parentNode.removeChild(note);
      }
    }
  }

  function emitUtterance(text) {
    socket.emit("user_uttered", { message: text, session_id: sessionId });
    if (!handoffState) {
      showTyping(); // the assistant answers; with a person, wait for their "typing" events
    }
  }

  /** text: what is sent; display: what the visitor sees (a quick reply's title). */
  function sendVisitorMessage(text, display) {
    text = asText(text).trim();
    if (!text) {
      return;
    }
    if (text.length > MAX_LENGTH) {
      text = text.slice(0, MAX_LENGTH);
    }
    display = display ? asText(display) : text;
    removeQuickReplies();
    var el = appendMessage({ role: "visitor", text: display });
    if (canSend()) {
      emitUtterance(text);
    } else {
      pending.push({ text: text, display: display, el: el });
      markPending(el, true);
      ensureSocket();
    }
  }

  function flushPending() {
    if (!canSend() || !pending.length) {
      return;
    }
    var queue = pending;
    pending = [];
    queue.forEach(function (p) {
      markPending(p.el, false);
      emitUtterance(p.text);
    });
  }

  // ---------------------------------------------------------------------------
  // Socket.IO
  // ---------------------------------------------------------------------------

  var ioClient = null;

  function loadSocketIo(callback) {
    if (ioClient) {
      callback(ioClient);
      return;
    }
    if (typeof window.io === "function") {
      ioClient = window.io;
      callback(ioClient);
      return;
    }
    if (ioLoading) {
      return;
    }
    ioLoading = true;
    var hadAmd = typeof window.define === "function" && window.define.amd;
    var tag = document.createElement("script");
    tag.src = config.server + "/widget/vendor/socket.io.min.js";
    tag.async = true;
    tag.addEventListener("load", function () {
      ioLoading = false;
      if (typeof window.io === "function") {
        ioClient = window.io;
        // The library sets window.io; remove it so the host page gets no new globals.
        try {
          delete window.io;
        } catch (e) {
          window.io = undefined;
        }
        callback(ioClient);
      } else {
        // e.g. an AMD loader on the host page took the module instead of window.io
        failSocketIo(hadAmd ? "AMD loader on the page" : "socket.io did not load");
      }
    });
    tag.addEventListener("error", function () {
      ioLoading = false;
      failSocketIo("could not load socket.io");
    });
    (document.head || document.documentElement).appendChild(tag);
  }

  function failSocketIo(reason) {
    setConnectionState("disconnected");
    if (window.console && console.warn) {
      console.warn("Helpline widget: " + reason);
    }
  }

  function ensureSocket() {
    if (socket || ioLoading) {
      return;
    }
    setConnectionState("connecting");
    loadSocketIo(function (io) {
      if (socket) {
        return;
      }
      try {
        socket = io(config.server, {
          path: "/socket.io",
          transports: ["polling", "websocket"], // starts on long-polling, upgrades when it can
          reconnection: true,
          reconnectionDelay: 1000,
          reconnectionDelayMax: 10000
        });
      } catch (e) {
        failSocketIo("could not connect: " + e);
        return;
      }
      bindSocket(socket);
    });
  }

  function bindSocket(s) {
    s.on("connect", function () {
      setConnectionState("connected");
      sessionReady = false;
      if (deleting) {
        resetDeleteButtons(); // the answer was lost with the connection: ask again if needed
      }
      s.emit("session_request", { session_id: sessionId || storage.get(KEY_SESSION) || null });
    });

    s.on("disconnect", function (reason) {
      sessionReady = false;
      hideTyping();
      if (reason === "io client disconnect" || navigator.onLine === false) {
        setConnectionState("disconnected"); // Socket.IO still retries unless we closed it
        return;
      }
      reconnecting();
      if (reason === "io server disconnect") {
        // The server closed the connection: Socket.IO does not retry this on its own.
        window.setTimeout(function () {
          if (!s.connected) {
            s.connect();
          }
        }, 2000);
      }
    });

    s.on("connect_error", function () {
      // Socket.IO keeps retrying; meanwhile the visitor sees the phone numbers.
      if (!s.connected) {
        setConnectionState("disconnected");
      }
    });

    s.on("session_confirm", onSessionConfirm);

    s.on("bot_uttered", function (data) {
      hideTyping();
      showServerMessage(data, false);
    });

    s.on("typing", function (data) {
      if (data && data.on) {
        showTyping();
      } else {
        hideTyping();
      }
    });

    s.on("handoff_status", applyHandoff);

    s.on("chat_deleted", onChatDeleted);

    s.on("session_error", function (data) {
      hideTyping();
      if (deleting) {
        resetDeleteButtons(); // the chat was not deleted: the visitor can try again
      }
      var message = data && typeof data === "object" ? data.message : data;
      showSystemNotice(asText(message) || "Something went wrong. Please try again.");
    });
  }

  function onSessionConfirm(data) {
    var id = null;
    var history = null;
    var hasHandoff = false;
    var handoff = null;
    if (typeof data === "string") {
      id = data;
    } else if (data && typeof data === "object") {
      id = data.session_id ? asText(data.session_id) : null;
      history = Array.isArray(data.history) ? data.history : null;
      hasHandoff = Object.prototype.hasOwnProperty.call(data, "handoff");
      handoff = data.handoff;
    }
    var known = sessionId || storage.get(KEY_SESSION);
    if (id) {
      if (known && known !== id) {
        clearChat(); // the server started a new conversation
        reshowPending();
        applyHandoff(null);
      }
      sessionId = id;
      storage.set(KEY_SESSION, id);
    } else {
      sessionId = known || null;
    }
    if (history && history.length) {
      renderHistory(history);
    }
    if (hasHandoff) {
      applyHandoff(handoff);
    }
    sessionReady = true;
    flushPending();
  }

  // ---------------------------------------------------------------------------
  // Quick exit
  // ---------------------------------------------------------------------------

  function quickExit() {
    storage.clearWidgetKeys();
    pending = [];
    sessionId = null;
    clearChat();
    els.input.value = "";
    removeEscalation();
    try {
      if (socket) {
        socket.disconnect();
      }
    } catch (e) {
      /* leaving anyway */
    }
    window.location.replace(config.exitUrl);
  }

  // ---------------------------------------------------------------------------
  // Delete this chat
  // ---------------------------------------------------------------------------

  function resetDeleteButtons() {
    deleting = false;
    els.confirmDelete.disabled = false;
    els.confirmDelete.textContent = "Delete";
    els.confirmKeep.disabled = false;
  }

  function showDeleteConfirm() {
    resetDeleteButtons();
    els.confirmNote.textContent = "";
    els.confirm.hidden = false;
    els.deleteChat.setAttribute("aria-expanded", "true");
    els.confirmKeep.focus();
  }

  function hideDeleteConfirm(returnFocus) {
    if (deleting) {
      return;
    }
    els.confirm.hidden = true;
    els.deleteChat.setAttribute("aria-expanded", "false");
    if (returnFocus) {
      els.deleteChat.focus();
    }
  }

  function confirmDeletion() {
    if (!canSend()) {
      els.confirmNote.textContent = "You're offline. The chat can be deleted when the connection is back.";
      ensureSocket();
      return;
    }
    deleting = true;
    els.confirmNote.textContent = "";
    els.confirmDelete.textContent = "Deleting…";
    els.confirmDelete.disabled = true;
    els.confirmKeep.disabled = true;
    els.confirmKeep.blur();
    els.deleteChat.focus(); // not on a disabled button
    // the server deletes the conversation this connection belongs to; it takes no id from here
    socket.emit("delete_chat", {});
  }

  /** The server erased the conversation: forget it here too and start a new one. */
  function onChatDeleted() {
    resetDeleteButtons();
    storage.remove(KEY_SESSION);
    storage.remove(KEY_ESCALATION);
    sessionId = null;
    sessionReady = false;
    pending = [];
    removeEscalation();
    clearChat();
    applyHandoff(null);
    hideDeleteConfirm(false);
    showSystemNotice("This chat has been deleted. You can start a new one at any time.");
    if (isOpen) {
      els.input.focus();
    }
    if (socket && socket.connected) {
      socket.emit("session_request", { session_id: null });
    }
  }

  // ---------------------------------------------------------------------------
  // Events
  // ---------------------------------------------------------------------------

  // Let the textarea grow with its text, up to the max-height set in widget.css.
  function autoGrow() {
    var input = els.input;
    input.style.height = "";
    if (input.scrollHeight > input.clientHeight) {
      input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
    }
  }

  function bindUi() {
    els.launcher.addEventListener("click", function () {
      if (isOpen) {
        closePanel(true);
      } else {
        openPanel(true);
      }
    });
    els.close.addEventListener("click", function () {
      closePanel(true);
    });
    els.quickExit.addEventListener("click", quickExit);
    els.handoffCancel.addEventListener("click", cancelHandoff);
    els.deleteChat.addEventListener("click", function () {
      if (els.confirm.hidden) {
        showDeleteConfirm();
      } else {
        hideDeleteConfirm(true);
      }
    });
    els.confirmKeep.addEventListener("click", function () {
      hideDeleteConfirm(true);
    });
    els.confirmDelete.addEventListener("click", confirmDeletion);

    els.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = els.input.value;
      if (!text.trim()) {
        els.input.focus();
        return;
      }
      els.input.value = "";
      autoGrow();
      sendVisitorMessage(text);
      els.input.focus();
    });

    els.input.addEventListener("input", autoGrow);

    els.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        if (typeof els.form.requestSubmit === "function") {
          els.form.requestSubmit();
        } else {
          els.send.click();
        }
      }
    });

    els.root.addEventListener("keydown", function (event) {
      if ((event.key === "Escape" || event.key === "Esc") && !els.confirm.hidden &&
          els.confirm.contains(document.activeElement)) {
        event.preventDefault(); // Escape answers "Keep" first; a second one closes the panel
        hideDeleteConfirm(true);
      } else if ((event.key === "Escape" || event.key === "Esc") && isOpen && !event.isComposing) {
        event.preventDefault();
        closePanel(true);
      } else if (event.key === "Tab" && isOpen && fullScreen()) {
        keepFocusInPanel(event);
      }
    });

    // On a phone the panel covers the page: it is a modal dialog there.
    if (phoneQuery) {
      var onPhoneChange = function () {
        els.panel.setAttribute("aria-modal", fullScreen() ? "true" : "false");
      };
      onPhoneChange();
      if (typeof phoneQuery.addEventListener === "function") {
        phoneQuery.addEventListener("change", onPhoneChange);
      } else if (typeof phoneQuery.addListener === "function") {
        phoneQuery.addListener(onPhoneChange);
      }
    }

    window.addEventListener("offline", function () {
      if (socket) {
        setConnectionState("disconnected");
      }
    });

    // A phone's keyboard shrinks the visual viewport but not always the layout viewport
    // (iOS Safari): the full-screen panel follows the visible part, so the input, Send and
    // the newest message stay on screen while typing.
    // Whatever takes room from the conversation (the emergency bar, the handoff status, the
    // keyboard), the newest message stays in view if the visitor was reading the end.
    if (typeof window.ResizeObserver === "function") {
      var lastHeight = els.log.clientHeight;
      new window.ResizeObserver(function () {
        var log = els.log;
        var shrunk = log.clientHeight < lastHeight;
        var wasAtEnd = log.scrollHeight - log.scrollTop - lastHeight < 24;
        lastHeight = log.clientHeight;
        if (shrunk && wasAtEnd) {
          scrollToEnd();
        }
      }).observe(els.log);
    }

    var viewport = window.visualViewport;
    if (viewport) {
      var fitPanel = function () {
        var atEnd = els.log.scrollHeight - els.log.scrollTop - els.log.clientHeight < 24;
        els.root.style.setProperty("--hw-vv-height", viewport.height + "px");
        els.root.style.setProperty("--hw-vv-top", viewport.offsetTop + "px");
        if (atEnd) {
          scrollToEnd();
        }
      };
      fitPanel();
      viewport.addEventListener("resize", fitPanel);
      viewport.addEventListener("scroll", fitPanel);
    }
  }

  // ---------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------

  function start() {
    build();
    bindUi();
    document.body.appendChild(els.root);
    applyAccent(els.root); // needs the root in the document to read computed colours
    injectCss();

    sessionId = storage.get(KEY_SESSION);
    restoreEscalation();

    started = true;

    var wasOpen = storage.get(KEY_OPEN);
    var shouldOpen = openRequested !== null
      ? openRequested
      : config.startOpen ? wasOpen !== "0" : wasOpen === "1";
    if (shouldOpen) {
      // Opened by data-open or a reload: don't take focus away from the page.
      openPanel(openRequested === true);
    } else if (sessionId) {
      ensureSocket(); // a conversation is going on: keep receiving its messages
    }
  }

  // The one global: defined at once so a second copy of this script does nothing.
  window.HelplineWidget = Object.freeze({
    open: function () {
      if (started) {
        openPanel(true);
      } else {
        openRequested = true;
      }
    },
    close: function () {
      if (started) {
        closePanel(false);
      } else {
        openRequested = false;
      }
    }
  });

  if (document.body) {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
