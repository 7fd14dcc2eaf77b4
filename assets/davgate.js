// davgate's only script: the one-time secret dialog and its copy button. Every page works
// without it; it makes the dialog modal and the copy a single click.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const dialog = document.querySelector("dialog[data-once]");
  if (dialog && typeof dialog.showModal === "function") {
    // Re-open as modal (focus trapped, page behind inert). Removing the attribute, unlike
    // close(), fires no close event.
    dialog.removeAttribute("open");
    dialog.showModal();
    // However the dialog is closed (Done, Escape), the secret leaves the page with it.
    dialog.addEventListener("close", () => {
      dialog.remove();
      window.location.replace(dialog.dataset.done || "/");
    });
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      if (!field) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch (_) {
        // Plain http outside localhost has no clipboard API: fall back to the selection.
        document.execCommand("copy");
      }
      button.textContent = button.dataset.copied;
    });
  }
});
