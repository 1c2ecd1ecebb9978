// WCAG 2.1 AA contrast of every visible piece of text under a root element.
// Returns the failures: [{text, ratio, needed, color, background}].
// The background is found by compositing the background colours of the element and its
// ancestors over white; an element over a background image is reported as unknown.
(rootSelector) => {
  function parse(value) {
    const m = /rgba?\(([^)]+)\)/.exec(value || "");
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  }
  function over(top, bottom) {
    const a = top.a;
    return { r: top.r * a + bottom.r * (1 - a), g: top.g * a + bottom.g * (1 - a),
             b: top.b * a + bottom.b * (1 - a), a: 1 };
  }
  function luminance(c) {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.backgroundImage && style.backgroundImage !== "none") return null;
      const c = parse(style.backgroundColor);
      if (c && c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  }
  function visible(el) {
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) return false;  // screen-reader-only text
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === "none" || s.visibility === "hidden" || Number(s.opacity) === 0) return false;
    }
    return true;
  }
  const failures = [];
  const root = document.querySelector(rootSelector);
  if (!root) return [{ text: "no element " + rootSelector, ratio: 0, needed: 4.5 }];
  let checked = 0;
  for (const el of [root, ...root.querySelectorAll("*")]) {
    const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    const field = (el.tagName === "INPUT" || el.tagName === "TEXTAREA") ? el.value.trim() : "";
    const text = own || field;
    if (!text || !visible(el)) continue;
    if (el.disabled) continue;  // WCAG exempts inactive controls
    const style = getComputedStyle(el);
    const bg = background(el);
    if (!bg) { failures.push({ text, ratio: null, needed: null, reason: "text over a background image" }); continue; }
    const fg = over(parse(style.color), bg);
    const l1 = luminance(fg), l2 = luminance(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    checked++;
    if (ratio < needed) {
      failures.push({ text: text.slice(0, 60), ratio: Math.round(ratio * 100) / 100, needed,
                      color: style.color, background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})` });
    }
  }
  if (checked === 0) failures.push({ text: "no visible text under " + rootSelector, ratio: 0, needed: 4.5 });
  return failures;
}
