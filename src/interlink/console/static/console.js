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
