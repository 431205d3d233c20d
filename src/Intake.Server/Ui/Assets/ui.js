// Live refresh: while <main> carries data-refresh (the page shows work in progress), fetch the page again every
// few milliseconds given there and replace <main>'s content; stop once the new page no longer asks for it.
// Without JavaScript the page is complete; reload it by hand.
(() => {
  "use strict";
  const main = () => document.getElementById("main");
  let timer = 0;
  const schedule = () => {
    const m = main();
    const every = m && Number(m.dataset.refresh);
    clearTimeout(timer);
    if (every > 0) timer = setTimeout(refresh, every);
  };
  async function refresh() {
    // Not while the operator is typing in a form on the page, nor while the tab is hidden.
    const active = document.activeElement;
    if (document.hidden || (active && active.closest("main form") && active.tagName !== "BUTTON")) return schedule();
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" }, redirect: "manual" });
      if (!response.ok) return schedule(); // signed out or a hiccup: keep what is shown, try again later
      const next = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("main");
      const m = main();
      if (!next || !m) return;
      const flash = m.querySelector(":scope > .flash"); // the result of the last action stays until the next full load
      // A copy of the list first: moving a node out of the fetched document shortens its live childNodes.
      m.replaceChildren(...Array.from(next.childNodes));
      if (flash && !m.querySelector(":scope > .flash")) m.prepend(flash);
      if (next.dataset.refresh) m.dataset.refresh = next.dataset.refresh; else delete m.dataset.refresh;
    } catch {
      // network error: try again later
    }
    schedule();
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", schedule); else schedule();
})();
