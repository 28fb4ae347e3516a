// Small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A destructive action asks once more before its form goes out.
  for (const button of document.querySelectorAll("button.danger")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.textContent + ": this cannot be undone. Continue?")) event.preventDefault();
    });
  }
  // The edited payload must be JSON: say so before sending it.
  for (const area of document.querySelectorAll("textarea[name=payload]")) {
    area.form.addEventListener("submit", (event) => {
      try { JSON.parse(area.value); area.setCustomValidity(""); }
      catch (error) { area.setCustomValidity("not JSON: " + error.message); area.reportValidity(); event.preventDefault(); }
    });
  }
});

// The landscape's figures: fetched again every few seconds, drawn on each arrow's label and in the table.
document.addEventListener("DOMContentLoaded", () => {
  const holder = document.querySelector(".landscape[data-figures]");
  if (!holder) return;
  const seconds = Math.max(1, Number(holder.dataset.refresh) || 5);
  const key = (el) =>
    `${el.dataset.source}>${el.dataset.target}:${el.dataset.pattern}` + (el.dataset.reply === "true" ? "/reply" : "");
  const labels = new Map();
  for (const label of holder.querySelectorAll("g.integration-label")) labels.set(key(label), label.querySelector("text.figures"));
  const stamp = document.querySelector("[data-testid=figures-at]");
  const refresh = async () => {
    let figures;
    try {
      const answer = await fetch(holder.dataset.figures, { credentials: "same-origin", headers: { accept: "application/json" } });
      const json = (answer.headers.get("content-type") || "").startsWith("application/json");
      if (!answer.ok || !json) throw new Error(answer.redirected ? "signed out?" : "answer " + answer.status);
      figures = await answer.json();
    } catch (error) {
      // Signed out, or the process is gone: the page says so and keeps the last figures.
      if (stamp) stamp.textContent = "not refreshed (" + error.message + ")";
      return;
    }
    for (const arrow of figures.arrows) {
      const text = labels.get(arrow.id);
      if (text) {
        text.textContent = arrow.label;
        text.classList.toggle("alert", arrow.alert);
      }
      const row = document.querySelector(`tr[data-arrow="${CSS.escape(arrow.id)}"]`);
      if (!row) continue;
      for (const cell of row.querySelectorAll("td[data-figure]")) cell.textContent = arrow.cells[cell.dataset.figure] ?? "";
    }
    if (stamp) stamp.textContent = figures.at;
  };
  window.setInterval(refresh, seconds * 1000);
});
