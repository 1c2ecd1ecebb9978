/*
 * Helpline staff console (single page).
 *
 * Talks to the same origin only: JSON API under /console/api (session cookie,
 * credentials "same-origin", X-CSRF-Token on every POST) and Socket.IO namespace
 * /console for live updates. Text from the server is always inserted as text
 * (textContent / text nodes), never parsed as HTML.
 */
(function () {
  "use strict";

  var API = "/console/api";
  var POLL_MS = 10000;
  var FLASH_MS = 30000;

  var TIER_LABELS = {
    emergency: "EMERGENCY",
    suicide: "SUICIDE RISK",
    medical: "MEDICAL",
    check: "CHECK-IN"
  };
  var LANGUAGE_TEXT = { en: "English", es: "Spanish" };
  var ALERT_TIERS = { emergency: true, suicide: true };
  var OPEN_STATUSES = { waiting: true, claimed: true };
  var STATUS_TEXT = {
    waiting: "Waiting for a staff member",
    claimed: "Claimed",
    returned: "Handed back to the assistant",
    resolved: "Resolved",
    cancelled: "Cancelled by the visitor",
    offline: "Asked outside staff hours"
  };
  var REASON_TEXT = {
    crisis: "Crisis detected",
    visitor_request: "Visitor asked for a person"
  };
  var ROLE_LABELS = {
    visitor: "Visitor",
    bot: "Assistant",
    staff: "Staff",
    system: "System"
  };

  var state = {
    user: null,
    csrf: null,
    staff: [],
    knownIds: null, // handoff ids seen in the queue (null before the first load)
    openId: null, // id of the conversation shown, as a string
    open: null, // {handoff, summary}
    transcriptKeys: {},
    socket: null,
    pollTimer: null,
    tickTimer: null,
    queueLoading: false,
    queueAgain: false,
    queueErrorShown: false
  };

  var $ = function (id) {
    return document.getElementById(id);
  };

  var els = {};

  // ---------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------

  /** Create an element; attrs may include "text" (textContent) and "class". */
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

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function asText(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function tierOf(tier) {
    return Object.prototype.hasOwnProperty.call(TIER_LABELS, tier) ? tier : null;
  }

  function tierLabel(tier) {
    return TIER_LABELS[tierOf(tier)] || "Request";
  }

  function tierBadge(tier) {
    var t = tierOf(tier);
    return h("span", {
      class: "badge badge--" + (t || "none"),
      "data-testid": "tier-badge",
      text: tierLabel(tier)
    });
  }

  function formatDuration(totalSeconds) {
    var s = Math.max(0, Math.floor(totalSeconds));
    if (s < 60) {
      return s + " s";
    }
    var m = Math.floor(s / 60);
    if (m < 60) {
      return m + " min " + String(s % 60).padStart(2, "0") + " s";
    }
    var hours = Math.floor(m / 60);
    return hours + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  /** ISO string or epoch (seconds or milliseconds) to a Date, or null. */
  function toDate(value) {
    if (value === null || value === undefined || value === "") {
      return null;
    }
    var ms = typeof value === "number" ? (value < 1e12 ? value * 1000 : value) : Date.parse(value);
    return isFinite(ms) ? new Date(ms) : null;
  }

  function timeElement(value) {
    var date = toDate(value);
    if (!date) {
      return null;
    }
    var sameDay = date.toDateString() === new Date().toDateString();
    var text = sameDay
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    return h("time", { datetime: date.toISOString(), text: text, title: date.toLocaleString() });
  }

  function dialable(phone) {
    return asText(phone).replace(/[^0-9+\-]/g, "");
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  /** The text as nodes, with every trigger phrase wrapped in <mark>. */
  function highlighted(text, phrases) {
    var fragment = document.createDocumentFragment();
    var list = (Array.isArray(phrases) ? phrases : [])
      .map(function (p) {
        return asText(p).trim();
      })
      .filter(function (p) {
        return p.length > 0;
      })
      .sort(function (a, b) {
        return b.length - a.length; // longest first, so it wins over a phrase inside it
      });
    if (!list.length || !text) {
      fragment.appendChild(document.createTextNode(text));
      return fragment;
    }
    var pattern = new RegExp(
      list
        .map(function (p) {
          return escapeRegExp(p).replace(/\s+/g, "\\s+");
        })
        .join("|"),
      "gi"
    );
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      if (!match[0]) {
        pattern.lastIndex += 1;
        continue;
      }
      if (match.index > last) {
        fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      fragment.appendChild(h("mark", { text: match[0] }));
      last = match.index + match[0].length;
    }
    if (last < text.length) {
      fragment.appendChild(document.createTextNode(text.slice(last)));
    }
    return fragment;
  }

  function isMine(handoff) {
    return !!(handoff && handoff.claimed_by && state.user && String(handoff.claimed_by.id) === String(state.user.id));
  }

  function claimerText(handoff) {
    if (!handoff || !handoff.claimed_by) {
      return "";
    }
    return isMine(handoff) ? "you" : asText(handoff.claimed_by.display_name) || "another staff member";
  }

  function statusText(handoff) {
    if (!handoff) {
      return "";
    }
    if (handoff.status === "claimed" || (handoff.claimed_by && handoff.status === undefined)) {
      return "Claimed by " + claimerText(handoff);
    }
    return STATUS_TEXT[handoff.status] || asText(handoff.status);
  }

  // ---------------------------------------------------------------------------
  // Notices and announcements
  // ---------------------------------------------------------------------------

  function showError(message) {
    // Empty first, then fill: the same message twice is announced twice.
    els.error.textContent = "";
    els.errorBox.classList.add("is-visible");
    els.errorDismiss.hidden = false;
    window.setTimeout(function () {
      els.error.textContent = message;
    }, 30);
  }

  function clearError() {
    els.error.textContent = "";
    els.errorBox.classList.remove("is-visible");
    els.errorDismiss.hidden = true;
  }

  var statusTimer = null;

  function showStatus(message) {
    window.clearTimeout(statusTimer);
    els.status.textContent = message;
    els.statusBox.classList.toggle("is-visible", !!message);
    if (message) {
      statusTimer = window.setTimeout(function () {
        showStatus("");
      }, 8000);
    }
  }

  function announce(message) {
    els.announcer.textContent = "";
    window.setTimeout(function () {
      els.announcer.textContent = message;
    }, 30);
  }

  function errorText(result, fallback) {
    var data = result && result.data;
    if (data && typeof data.error === "string" && data.error) {
      return data.error;
    }
    if (result && result.status === 0) {
      return "Cannot reach the server. Check your connection.";
    }
    return fallback || "Something went wrong (" + (result ? result.status : "?") + ").";
  }

  // ---------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------

  /** Resolves to {ok, status, data}; never rejects. */
  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      if (state.csrf) {
        options.headers["X-CSRF-Token"] = state.csrf;
      }
      options.body = JSON.stringify(body || {});
    }
    return fetch(API + path, options).then(
      function (response) {
        var type = response.headers.get("Content-Type") || "";
        var parse = type.indexOf("json") !== -1
          ? response.json().catch(function () {
            return null;
          })
          : Promise.resolve(null);
        return parse.then(function (data) {
          return { ok: response.ok, status: response.status, data: data && typeof data === "object" ? data : {} };
        });
      },
      function () {
        return { ok: false, status: 0, data: {} };
      }
    );
  }

  /** Like api(), but a 401 means the session ended: back to the login form. */
  function authed(method, path, body) {
    return api(method, path, body).then(function (result) {
      if (result.status === 401 && state.user) {
        sessionEnded("Your session has ended. Please sign in again.");
      }
      return result;
    });
  }

  // ---------------------------------------------------------------------------
  // Sign in / out
  // ---------------------------------------------------------------------------

  function setLoginError(message) {
    els.loginError.textContent = "";
    if (message) {
      window.setTimeout(function () {
        els.loginError.textContent = message;
      }, 30);
    }
  }

  function showLogin(message) {
    els.app.hidden = true;
    els.userArea.hidden = true;
    els.login.hidden = false;
    els.loginSubmit.disabled = false;
    setLoginError(message || "");
    els.username.focus();
  }

  function stopLive() {
    window.clearInterval(state.pollTimer);
    window.clearInterval(state.tickTimer);
    state.pollTimer = null;
    state.tickTimer = null;
    if (state.socket) {
      try {
        state.socket.disconnect();
      } catch (e) {
        /* ignore */
      }
      state.socket = null;
    }
    stopFlash();
  }

  function resetState() {
    stopLive();
    state.user = null;
    state.staff = [];
    state.knownIds = null;
    state.queueErrorShown = false;
    closeConversation(false);
    clear(els.queue);
    clear(els.callbacks);
    clear(els.assignSelect);
  }

  function sessionEnded(message) {
    resetState();
    clearError();
    showLogin(message);
  }

  function signedIn(data) {
    state.user = data.user;
    if (data.csrf) {
      state.csrf = data.csrf;
    }
    els.login.hidden = true;
    els.app.hidden = false;
    els.userArea.hidden = false;
    var name = asText(state.user.display_name || state.user.username);
    els.userName.textContent = "Signed in as " + name + (state.user.role === "supervisor" ? " (supervisor)" : "");
    clearError();
    if (state.user.role === "supervisor") {
      loadStaff();
    }
    refreshQueue();
    connectSocket();
    state.pollTimer = window.setInterval(refreshQueue, POLL_MS);
    state.tickTimer = window.setInterval(tick, 1000);
  }

  function onLoginSubmit(event) {
    event.preventDefault();
    var username = els.username.value.trim();
    var password = els.password.value;
    if (!username || !password) {
      setLoginError("Enter your username and password.");
      (username ? els.password : els.username).focus();
      return;
    }
    els.loginSubmit.disabled = true;
    setLoginError("");
    api("POST", "/login", { username: username, password: password }).then(function (result) {
      els.loginSubmit.disabled = false;
      els.password.value = "";
      if (result.ok && result.data.user) {
        signedIn(result.data);
        els.main.focus();
        return;
      }
      var fallback = result.status === 423
        ? "This account is locked. Try again later."
        : result.status === 401
          ? "Wrong username or password."
          : "Could not sign in.";
      setLoginError(errorText(result, fallback));
      els.password.focus();
    });
  }

  function logout() {
    els.logout.disabled = true;
    api("POST", "/logout", {}).then(function () {
      els.logout.disabled = false;
      state.csrf = null;
      resetState();
      clearError();
      els.username.value = ""; // shared computers: leave nothing behind
      els.password.value = "";
      showLogin("");
      showStatus("You have signed out.");
    });
  }

  // ---------------------------------------------------------------------------
  // Queue
  // ---------------------------------------------------------------------------

  function refreshQueue() {
    if (!state.user) {
      return;
    }
    if (state.queueLoading) {
      state.queueAgain = true; // one more fetch when this one is done
      return;
    }
    state.queueLoading = true;
    authed("GET", "/queue").then(function (result) {
      state.queueLoading = false;
      if (!state.user) {
        return;
      }
      if (result.ok) {
        state.queueErrorShown = false;
        renderQueue(result.data);
      } else if (result.status !== 401 && !state.queueErrorShown) {
        state.queueErrorShown = true; // once, not every 10 seconds
        showError(errorText(result, "Could not load the queue."));
      }
      if (state.queueAgain) {
        state.queueAgain = false;
        refreshQueue();
      }
    });
  }

  function waitingElement(seconds, testid, prefix) {
    var node = h("span", { class: "waiting", "data-testid": testid, "data-prefix": prefix === undefined ? "Waiting " : prefix });
    setSince(node, seconds);
    return node;
  }

  function tick() {
    var nodes = document.querySelectorAll("[data-since]");
    var now = Date.now();
    for (var i = 0; i < nodes.length; i++) {
      var since = Number(nodes[i].getAttribute("data-since"));
      nodes[i].textContent = (nodes[i].getAttribute("data-prefix") || "") + formatDuration((now - since) / 1000);
    }
  }

  /** What a queue item shows, apart from the waiting time: re-render only when it changes. */
  function queueSignature(handoff) {
    var claimer = handoff.claimed_by || {};
    return JSON.stringify([handoff.tier, handoff.status, handoff.reason, handoff.preview, claimer.id, claimer.display_name]);
  }

  function setSince(node, seconds) {
    var since = Date.now() - Math.max(0, Number(seconds) || 0) * 1000;
    node.setAttribute("data-since", String(since));
    node.textContent = (node.getAttribute("data-prefix") || "") + formatDuration((Date.now() - since) / 1000);
  }

  function queueItem(handoff) {
    var id = String(handoff.id);
    var tier = tierOf(handoff.tier);
    var alert = !!ALERT_TIERS[tier];
    var item = h("li", {
      class: "queue-item queue-item--" + (tier || "none") + (alert ? " queue-item--alert" : ""),
      "data-testid": "queue-item",
      "data-handoff-id": id,
      "data-tier": tier || "none",
      "data-alert": alert ? "true" : "false",
      "data-status": asText(handoff.status),
      "data-signature": queueSignature(handoff)
    });
    var button = h("button", {
      type: "button",
      class: "queue-item__open",
      "aria-current": state.openId === id ? "true" : null
    });
    var top = h("span", { class: "queue-item__top" }, [
      tierBadge(tier),
      waitingElement(handoff.waiting_seconds, "waiting-time")
    ]);
    button.appendChild(top);
    var preview = asText(handoff.preview).trim();
    button.appendChild(h("span", {
      class: "queue-item__preview",
      "data-testid": "queue-preview",
      text: preview || "(no message)"
    }));
    var meta = [];
    if (REASON_TEXT[handoff.reason]) {
      meta.push(REASON_TEXT[handoff.reason]);
    }
    meta.push(statusText(handoff));
    button.appendChild(h("span", {
      class: "queue-item__meta",
      "data-testid": "queue-status",
      text: meta.join(" · ")
    }));
    item.appendChild(button);
    return item;
  }

  function renderCallbacks(callbacks) {
    clear(els.callbacks);
    callbacks.forEach(function (cb) {
      var phone = asText(cb.phone);
      var item = h("li", {
        class: "callback",
        "data-testid": "callback-item",
        "data-callback-id": asText(cb.id)
      });
      item.appendChild(dialable(phone)
        ? h("a", { class: "callback__phone", href: "tel:" + dialable(phone), text: phone })
        : h("span", { class: "callback__phone", text: phone || "(no number)" }));
      if (cb.best_time) {
        item.appendChild(h("span", { class: "callback__detail", text: "Best time: " + asText(cb.best_time) }));
      }
      var when = timeElement(cb.created_at);
      if (when) {
        item.appendChild(h("span", { class: "callback__detail" }, ["Requested ", when]));
      }
      var done = h("button", {
        type: "button",
        class: "button button--secondary callback__done",
        "data-testid": "callback-called",
        text: "Mark as called back"
      });
      done.addEventListener("click", function () {
        done.disabled = true;
        authed("POST", "/callbacks/" + encodeURIComponent(asText(cb.id)) + "/called").then(function (result) {
          if (!result.ok && result.status !== 409) {
            done.disabled = false;
            showError(asText(result.data.error) || "Could not update the callback request. Please try again.");
            return;
          }
          refreshQueue();
        });
      });
      item.appendChild(done);
      els.callbacks.appendChild(item);
    });
    els.callbacksEmpty.hidden = callbacks.length > 0;
  }

  function renderQueue(data) {
    var handoffs = Array.isArray(data.handoffs) ? data.handoffs : [];
    var callbacks = Array.isArray(data.callbacks) ? data.callbacks : [];

    // Staff hours
    var offHours = data.staff_online === false;
    els.callbacksSection.hidden = !offHours;
    if (offHours) {
      renderCallbacks(callbacks);
    }

    // Keep keyboard focus on the same item across the re-render.
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("[data-testid='queue-item']")
      : null;
    var focusedId = focused ? focused.getAttribute("data-handoff-id") : null;

    // Update the list in place (keyed by handoff id), so items that did not change stay
    // the same elements: no flicker, no lost clicks or focus.
    var existing = {};
    Array.prototype.slice.call(els.queue.children).forEach(function (li) {
      if (li.hasAttribute("data-handoff-id")) {
        existing[li.getAttribute("data-handoff-id")] = li;
      } else {
        els.queue.removeChild(li); // the "no one is waiting" line
      }
    });
    var previous = null;
    handoffs.forEach(function (handoff) {
      var id = String(handoff.id);
      var item = existing[id];
      delete existing[id];
      if (item && item.getAttribute("data-signature") === queueSignature(handoff)) {
        setSince(item.querySelector("[data-since]"), handoff.waiting_seconds);
      } else {
        var fresh = queueItem(handoff);
        if (item) {
          els.queue.replaceChild(fresh, item);
        }
        item = fresh;
      }
      var wanted = previous ? previous.nextSibling : els.queue.firstChild;
      if (item !== wanted) {
        els.queue.insertBefore(item, wanted);
      }
      previous = item;
    });
    Object.keys(existing).forEach(function (id) {
      els.queue.removeChild(existing[id]);
    });
    if (!handoffs.length) {
      els.queue.appendChild(h("li", {
        class: "queue-empty muted",
        "data-testid": "queue-empty",
        text: "No one is waiting right now."
      }));
    }
    els.queueCount.textContent = handoffs.length ? "(" + handoffs.length + ")" : "";
    els.queueUpdated.textContent = "Updated " + new Date().toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit"
    });
    if (focusedId) {
      var again = els.queue.querySelector("[data-handoff-id='" + CSS.escape(focusedId) + "'] button");
      if (again) {
        again.focus();
      }
    }

    // What is new since the last fetch
    var firstLoad = state.knownIds === null;
    var known = state.knownIds || {};
    var fresh = handoffs.filter(function (handoff) {
      return !known[String(handoff.id)];
    });
    state.knownIds = {};
    handoffs.forEach(function (handoff) {
      state.knownIds[String(handoff.id)] = true;
    });
    var urgent = fresh.filter(function (handoff) {
      return ALERT_TIERS[tierOf(handoff.tier)];
    });
    if (firstLoad) {
      if (handoffs.length) {
        announce(handoffs.length + (handoffs.length === 1 ? " request" : " requests") + " in the queue" +
          (urgent.length ? ", " + urgent.length + " urgent." : "."));
      }
    } else if (fresh.length) {
      announce(fresh.map(function (handoff) {
        return "New " + (tierOf(handoff.tier) ? tierLabel(handoff.tier).toLowerCase() + " " : "") +
          "request in the queue" + (handoff.preview ? ": " + asText(handoff.preview).slice(0, 120) : ".");
      }).join(" "));
    }
    if (urgent.length) {
      beep();
      flashTitle(tierLabel(urgent[0].tier) + " in the queue");
    }

    // Keep the open conversation in step with the queue.
    if (state.openId && state.open) {
      var current = handoffs.filter(function (handoff) {
        return String(handoff.id) === state.openId;
      })[0];
      if (current) {
        state.open.handoff = Object.assign({}, state.open.handoff, current);
        renderConversationState();
      } else if (OPEN_STATUSES[state.open.handoff.status]) {
        loadConversation(state.openId, false); // it left the queue: find out why
      }
    }
  }

  // ---------------------------------------------------------------------------
  // Alerts: sound and title
  // ---------------------------------------------------------------------------

  var audioContext = null;

  function unlockAudio() {
    try {
      if (!audioContext) {
        var AudioCtor = window.AudioContext || window.webkitAudioContext;
        if (!AudioCtor) {
          return;
        }
        audioContext = new AudioCtor();
      }
      if (audioContext.state === "suspended") {
        audioContext.resume().catch(function () {});
      }
    } catch (e) {
      /* audio blocked or unavailable */
    }
  }

  function beep() {
    try {
      unlockAudio();
      if (!audioContext) {
        return;
      }
      var start = audioContext.currentTime;
      [0, 0.28].forEach(function (offset) {
        var oscillator = audioContext.createOscillator();
        var gain = audioContext.createGain();
        oscillator.type = "sine";
        oscillator.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, start + offset);
        gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
        oscillator.connect(gain);
        gain.connect(audioContext.destination);
        oscillator.start(start + offset);
        oscillator.stop(start + offset + 0.22);
      });
    } catch (e) {
      /* audio blocked: the visual alert is still there */
    }
  }

  var baseTitle = document.title;
  var flashInterval = null;
  var flashTimeout = null;

  function flashTitle(text) {
    stopFlash();
    var alertTitle = "⚠ " + text + " – " + baseTitle;
    var on = true;
    document.title = alertTitle;
    flashInterval = window.setInterval(function () {
      on = !on;
      document.title = on ? alertTitle : baseTitle;
    }, 1000);
    flashTimeout = window.setTimeout(stopFlash, FLASH_MS);
  }

  function stopFlash() {
    window.clearInterval(flashInterval);
    window.clearTimeout(flashTimeout);
    flashInterval = null;
    flashTimeout = null;
    document.title = baseTitle;
  }

  // ---------------------------------------------------------------------------
  // Conversation view
  // ---------------------------------------------------------------------------

  function openConversation(id) {
    state.openId = String(id);
    var buttons = els.queue.querySelectorAll(".queue-item__open");
    for (var i = 0; i < buttons.length; i++) {
      var itemId = buttons[i].parentNode.getAttribute("data-handoff-id");
      if (itemId === state.openId) {
        buttons[i].setAttribute("aria-current", "true");
      } else {
        buttons[i].removeAttribute("aria-current");
      }
    }
    state.open = null;
    clearError(); // errors were about the conversation shown before
    els.conversation.hidden = false;
    els.placeholder.hidden = true;
    els.convTitle.textContent = "Conversation";
    els.convStatus.textContent = "Loading…";
    clear(els.summary);
    clear(els.transcript);
    els.replyInput.value = "";
    els.resolveNote.value = "";
    loadConversation(state.openId, true);
  }

  function loadConversation(id, moveFocus) {
    return authed("GET", "/handoffs/" + encodeURIComponent(id)).then(function (result) {
      if (state.openId !== id) {
        return; // another conversation was opened meanwhile
      }
      if (!result.ok) {
        if (result.status === 404) {
          showStatus("That conversation is no longer available.");
          closeConversation(els.conversation.contains(document.activeElement));
        } else if (result.status !== 401) {
          showError(errorText(result, "Could not open the conversation."));
          if (!state.open) {
            els.convStatus.textContent = "Could not load this conversation.";
          }
        }
        return;
      }
      renderConversation(result.data);
      if (moveFocus) {
        els.convTitle.focus();
      }
    });
  }

  function closeConversation(returnFocus) {
    var id = state.openId;
    state.openId = null;
    state.open = null;
    state.transcriptKeys = {};
    els.conversation.hidden = true;
    els.placeholder.hidden = false;
    var current = els.queue.querySelectorAll("[aria-current]");
    for (var i = 0; i < current.length; i++) {
      current[i].removeAttribute("aria-current");
    }
    if (returnFocus) {
      var button = id
        ? els.queue.querySelector("[data-handoff-id='" + CSS.escape(id) + "'] button")
        : null;
      (button || els.queueTitle).focus();
    }
  }

  function renderConversation(data) {
    var handoff = data.handoff || {};
    state.open = {
      handoff: handoff,
      summary: data.summary || {}
    };
    renderConversationState();
    renderSummary();
    renderTranscript(Array.isArray(data.transcript) ? data.transcript : []);
  }

  function triggerPhrases() {
    if (!state.open) {
      return [];
    }
    var fromSummary = state.open.summary.trigger_phrases;
    var list = Array.isArray(fromSummary) && fromSummary.length ? fromSummary : state.open.handoff.trigger_phrases;
    return Array.isArray(list) ? list : [];
  }

  /** Title, status line and which actions are available. */
  function renderConversationState() {
    var handoff = state.open.handoff;
    clear(els.convTitle);
    els.convTitle.appendChild(tierBadge(handoff.tier));
    els.convTitle.appendChild(document.createTextNode(" Conversation " + asText(handoff.id)));

    var isOpen = !!OPEN_STATUSES[handoff.status];
    var mine = isMine(handoff);
    var status = statusText(handoff);
    if (isOpen && !mine) {
      status += handoff.claimed_by ? "" : ". Claim it to reply.";
    }
    if (!isOpen) {
      status += ". This conversation is closed.";
    }
    els.convStatus.textContent = status;
    els.conversation.setAttribute("data-status", asText(handoff.status));
    els.conversation.setAttribute("data-tier", tierOf(handoff.tier) || "none");

    els.claim.hidden = !isOpen || mine;
    els.replySend.disabled = !isOpen;
    els.replyInput.disabled = !isOpen;
    els.handBack.disabled = !isOpen;
    els.resolve.disabled = !isOpen;
    els.resolveNote.disabled = !isOpen;
    els.assignBox.hidden = !(state.user && state.user.role === "supervisor" && isOpen);
    els.replyHint.textContent = mine || !isOpen
      ? "Enter sends, Shift+Enter adds a new line."
      : "Claim this conversation before replying. Enter sends, Shift+Enter adds a new line.";
  }

  function summaryRow(list, term, value, testid) {
    list.appendChild(h("dt", { text: term }));
    var dd = h("dd", { "data-testid": testid });
    if (typeof value === "string") {
      dd.textContent = value;
    } else {
      dd.appendChild(value);
    }
    list.appendChild(dd);
  }

  function renderSummary() {
    var summary = state.open.summary;
    var handoff = state.open.handoff;
    clear(els.summary);
    var list = h("dl", { class: "summary__list" });

    summaryRow(list, "Tier", tierBadge(summary.tier !== undefined ? summary.tier : handoff.tier), "summary-tier");

    if (REASON_TEXT[handoff.reason] || handoff.reason) {
      summaryRow(list, "Reason", REASON_TEXT[handoff.reason] || asText(handoff.reason), "summary-reason");
    }

    var detail = summary.crisis_detail || handoff.crisis_detail;
    if (detail && detail.reason) {
      summaryRow(list, "Why", asText(detail.reason), "summary-why");
    }
    if (detail && LANGUAGE_TEXT[detail.language]) {
      summaryRow(list, "Language", LANGUAGE_TEXT[detail.language], "summary-language");
    }

    var phrases = triggerPhrases();
    var phraseNode = document.createDocumentFragment();
    if (phrases.length) {
      phrases.forEach(function (phrase, index) {
        if (index) {
          phraseNode.appendChild(document.createTextNode(", "));
        }
        phraseNode.appendChild(h("mark", { text: asText(phrase) }));
      });
    } else {
      phraseNode.appendChild(document.createTextNode("None"));
    }
    summaryRow(list, "Trigger phrases", phraseNode, "summary-triggers");

    var substances = Array.isArray(summary.substances) ? summary.substances.map(asText).filter(Boolean) : [];
    summaryRow(list, "Substances", substances.length ? substances.join(", ") : "None mentioned", "summary-substances");

    if (summary.pregnancy === true) {
      summaryRow(list, "Pregnancy", h("strong", { text: "Pregnancy mentioned" }), "summary-pregnancy");
    }

    var seconds = summary.waiting_seconds !== undefined && summary.waiting_seconds !== null
      ? summary.waiting_seconds
      : handoff.waiting_seconds;
    summaryRow(list, "Time waiting", waitingElement(seconds, "summary-waiting", ""), "summary-waiting-row");

    els.summary.appendChild(list);
  }

  function messageKey(message) {
    if (message.id !== undefined && message.id !== null) {
      return "id:" + message.id;
    }
    return [message.role, message.text, message.at].join("\u0000");
  }

  /** What the visitor's emergency bar showed, for a crisis reply that is only its payload. */
  function linesShown(escalation) {
    var lines = escalation && Array.isArray(escalation.lines) ? escalation.lines : [];
    var parts = lines.map(function (line) {
      if (!line || typeof line !== "object") {
        return "";
      }
      var numbers = [asText(line.phone), line.sms ? "text " + asText(line.sms) : ""].filter(Boolean).join(", ");
      return [asText(line.name), numbers].filter(Boolean).join(": ");
    }).filter(Boolean);
    return parts.length ? "Emergency bar shown to the visitor: " + parts.join(" · ") : "";
  }

  function transcriptEntry(message) {
    var role = ROLE_LABELS[message.role] ? message.role : "system";
    var speaker = role === "staff"
      ? (asText(message.staff_name) || "Staff") + " (staff)"
      : ROLE_LABELS[role];
    var item = h("li", {
      class: "transcript__message transcript__message--" + role,
      "data-testid": "transcript-message",
      "data-role": role
    });
    var head = h("p", { class: "transcript__head" }, [
      h("span", { class: "transcript__speaker", text: speaker })
    ]);
    var when = timeElement(message.at);
    if (when) {
      head.appendChild(document.createTextNode(" "));
      head.appendChild(when);
    }
    item.appendChild(head);
    var text = asText(message.text);
    var shown = text ? "" : linesShown(message.escalation);
    var body = h("p", { class: "transcript__text" + (shown ? " transcript__text--lines" : "") });
    if (role === "visitor") {
      body.appendChild(highlighted(text, triggerPhrases()));
    } else {
      body.textContent = text || shown;
    }
    item.appendChild(body);
    return item;
  }

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 60;
  }

  function renderTranscript(messages) {
    clear(els.transcript);
    state.transcriptKeys = {};
    messages.forEach(function (message) {
      if (message && typeof message === "object") {
        state.transcriptKeys[messageKey(message)] = true;
        els.transcript.appendChild(transcriptEntry(message));
      }
    });
    if (!messages.length) {
      els.transcript.appendChild(h("li", { class: "transcript__empty muted", text: "No messages yet." }));
    }
    els.transcript.scrollTop = els.transcript.scrollHeight;
  }

  function appendTranscript(message) {
    var key = messageKey(message);
    if (state.transcriptKeys[key]) {
      return false;
    }
    state.transcriptKeys[key] = true;
    var empty = els.transcript.querySelector(".transcript__empty");
    if (empty) {
      els.transcript.removeChild(empty);
    }
    var stick = nearBottom(els.transcript);
    els.transcript.appendChild(transcriptEntry(message));
    if (stick) {
      els.transcript.scrollTop = els.transcript.scrollHeight;
    }
    return true;
  }

  function onTranscriptEvent(data) {
    if (!data || typeof data !== "object" || !data.message || !state.openId) {
      return;
    }
    var forOpen = (data.handoff_id !== undefined && data.handoff_id !== null && String(data.handoff_id) === state.openId) ||
      (data.conversation_id && state.open && data.conversation_id === state.open.handoff.conversation_id);
    if (!forOpen) {
      return;
    }
    var added = appendTranscript(data.message);
    if (added && data.message.role === "visitor") {
      announce("Visitor: " + asText(data.message.text).slice(0, 200));
    }
  }

  // ---------------------------------------------------------------------------
  // Actions
  // ---------------------------------------------------------------------------

  /** POST an action on the open handoff; disables the button while it runs. */
  function act(button, path, body, done) {
    if (!state.openId) {
      return;
    }
    var id = state.openId;
    clearError();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    authed("POST", "/handoffs/" + encodeURIComponent(id) + path, body).then(function (result) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (result.status === 401) {
        return;
      }
      if (!result.ok) {
        showError(errorText(result, "That did not work."));
      } else if (done) {
        done(result);
      }
      refreshQueue();
      if (state.openId === id) {
        loadConversation(id, false);
      }
    });
  }

  function claim() {
    act(els.claim, "/claim", {}, function () {
      showStatus("You claimed this conversation.");
      els.replyInput.focus();
    });
  }

  function sendReply(event) {
    event.preventDefault();
    if (els.replySend.disabled) {
      return; // already sending, or the conversation is closed
    }
    var text = els.replyInput.value.trim();
    if (!text) {
      els.replyInput.focus();
      return;
    }
    act(els.replySend, "/reply", { text: text }, function () {
      els.replyInput.value = "";
      els.replyInput.focus();
    });
  }

  function handBack() {
    act(els.handBack, "/return", {}, function () {
      showStatus("Handed back to the assistant.");
    });
  }

  function resolve(event) {
    event.preventDefault();
    act(els.resolve, "/resolve", { note: els.resolveNote.value.trim() }, function () {
      els.resolveNote.value = "";
      showStatus("Conversation resolved.");
    });
  }

  function assign() {
    var value = els.assignSelect.value;
    var person = state.staff.filter(function (s) {
      return String(s.id) === value;
    })[0];
    if (!person) {
      showError("Choose a staff member to reassign to.");
      els.assignSelect.focus();
      return;
    }
    act(els.assign, "/assign", { staff_id: person.id }, function () {
      showStatus("Reassigned to " + asText(person.display_name) + ".");
    });
  }

  function loadStaff() {
    authed("GET", "/staff").then(function (result) {
      if (!result.ok) {
        if (result.status !== 401) {
          showError(errorText(result, "Could not load the staff list."));
        }
        return;
      }
      state.staff = (Array.isArray(result.data.staff) ? result.data.staff : []).filter(function (s) {
        return s && s.active !== false;
      });
      clear(els.assignSelect);
      els.assignSelect.appendChild(h("option", { value: "", text: "Choose a staff member" }));
      state.staff.forEach(function (s) {
        var label = asText(s.display_name) + (s.role === "supervisor" ? " (supervisor)" : "");
        els.assignSelect.appendChild(h("option", { value: String(s.id), text: label }));
      });
    });
  }

  // ---------------------------------------------------------------------------
  // Live updates (Socket.IO)
  // ---------------------------------------------------------------------------

  function setLive(on) {
    els.live.setAttribute("data-state", on ? "on" : "off");
    els.live.textContent = on ? "Live updates on" : "Live updates off – refreshing every 10 seconds";
  }

  function connectSocket() {
    if (typeof window.io !== "function") {
      setLive(false);
      return;
    }
    var socket = window.io("/console", { path: "/socket.io" });
    state.socket = socket;
    socket.on("connect", function () {
      setLive(true);
      refreshQueue();
      if (state.openId) {
        loadConversation(state.openId, false); // catch up on anything missed
      }
    });
    socket.on("disconnect", function () {
      setLive(false);
    });
    socket.on("connect_error", function () {
      setLive(false);
    });
    socket.on("queue_changed", refreshQueue);
    socket.on("transcript", onTranscriptEvent);
    socket.on("crisis_alert", onCrisisAlert);
  }

  /** A visitor in a live chat wrote something the crisis screen escalated: alert whoever has
   * it open (the summary's tier, triggers and reason are reloaded), and the queue. */
  function onCrisisAlert(data) {
    if (!data || typeof data !== "object") {
      return;
    }
    var label = tierLabel(data.tier);
    var isOpen = state.openId && state.open && (String(data.handoff_id) === state.openId ||
      data.conversation_id === state.open.handoff.conversation_id);
    if (isOpen) {
      beep();
      flashTitle(label + " in this chat");
      announce(label + " in the open chat" + (data.reason ? ": " + asText(data.reason).slice(0, 160) : "."));
      loadConversation(state.openId, false);
    }
    refreshQueue();
  }

  // ---------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------

  function bind() {
    els = {
      main: $("main"),
      login: $("login-view"),
      loginForm: $("login-form"),
      username: $("login-username"),
      password: $("login-password"),
      loginError: $("login-error"),
      loginSubmit: $("login-submit"),
      app: $("app-view"),
      userArea: $("user-area"),
      userName: $("user-name"),
      live: $("live-state"),
      logout: $("logout"),
      errorBox: $("error-box"),
      error: $("console-error"),
      errorDismiss: $("error-dismiss"),
      statusBox: $("status-box"),
      status: $("console-status"),
      announcer: $("queue-announcer"),
      callbacksSection: $("callbacks-section"),
      callbacks: $("callbacks"),
      callbacksEmpty: $("callbacks-empty"),
      queueTitle: $("queue-title"),
      queue: $("queue"),
      queueCount: $("queue-count"),
      queueUpdated: $("queue-updated"),
      conversation: $("conversation"),
      placeholder: $("conversation-placeholder"),
      convTitle: $("conv-title"),
      convClose: $("conv-close"),
      convStatus: $("conv-status"),
      summary: $("summary"),
      transcript: $("transcript"),
      claim: $("claim"),
      handBack: $("hand-back"),
      replyForm: $("reply-form"),
      replyInput: $("reply-input"),
      replySend: $("reply-send"),
      replyHint: $("reply-hint"),
      assignBox: $("assign-box"),
      assignSelect: $("assign-select"),
      assign: $("assign"),
      resolveForm: $("resolve-form"),
      resolveNote: $("resolve-note"),
      resolve: $("resolve")
    };
    els.queueTitle.setAttribute("tabindex", "-1");

    els.loginForm.addEventListener("submit", onLoginSubmit);
    els.logout.addEventListener("click", logout);
    els.errorDismiss.addEventListener("click", clearError);

    // A click anywhere on a queue item opens it (the button inside makes it keyboard-usable).
    els.queue.addEventListener("click", function (event) {
      var item = event.target.closest("[data-testid='queue-item']");
      if (item) {
        openConversation(item.getAttribute("data-handoff-id"));
      }
    });

    els.convClose.addEventListener("click", function () {
      closeConversation(true);
    });
    els.claim.addEventListener("click", claim);
    els.handBack.addEventListener("click", handBack);
    els.assign.addEventListener("click", assign);
    els.replyForm.addEventListener("submit", sendReply);
    els.resolveForm.addEventListener("submit", resolve);
    els.replyInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendReply(event);
      }
    });

    // Browsers only allow sound after the user has interacted with the page.
    document.addEventListener("pointerdown", unlockAudio);
    document.addEventListener("keydown", unlockAudio);
    // Stop the title flashing once someone is looking at the page.
    window.addEventListener("focus", stopFlash);
    document.addEventListener("pointerdown", stopFlash);
    document.addEventListener("keydown", stopFlash);
  }

  function start() {
    bind();
    api("GET", "/me").then(function (result) {
      if (result.data && result.data.csrf) {
        state.csrf = result.data.csrf;
      }
      if (result.ok && result.data.user) {
        signedIn(result.data);
        return;
      }
      showLogin("");
      if (result.status !== 401) {
        showError(errorText(result, "Could not check whether you are signed in."));
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
