// Progressive enhancement only: every page works without this file, except the copy buttons and dragging
// upstream sources into order (which also have up/down buttons that work without it).
"use strict";

function enableCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.innerText.replace(/\n$/, ""));
        button.textContent = "Copied";
      } catch (err) {
        button.textContent = "Copy failed";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
}

// A list marked data-sortable holds items with data-id; dragging one reorders the list, and the list's form
// (data-sortable names the hidden input) then posts the new order.
function enableDragOrdering() {
  for (const list of document.querySelectorAll("ol[data-sortable]")) {
    const form = list.closest("form");
    const field = form && form.querySelector(`input[name="${list.dataset.sortable}"]`);
    if (!field) continue;
    let dragged = null;
    for (const item of list.querySelectorAll("li[data-id]")) {
      item.draggable = true;
      item.addEventListener("dragstart", (event) => {
        dragged = item;
        item.classList.add("dragging");
        // Some browsers start a drag only when it carries data.
        if (event.dataTransfer) { event.dataTransfer.setData("text/plain", item.dataset.id); }
      });
      item.addEventListener("dragend", () => { item.classList.remove("dragging"); dragged = null; });
      item.addEventListener("dragover", (event) => {
        event.preventDefault();
        if (!dragged || dragged === item) return;
        const box = item.getBoundingClientRect();
        const after = event.clientY > box.top + box.height / 2;
        list.insertBefore(dragged, after ? item.nextSibling : item);
      });
      item.addEventListener("drop", (event) => {
        event.preventDefault();
        field.value = [...list.querySelectorAll("li[data-id]")].map((li) => li.dataset.id).join(",");
        form.requestSubmit();
      });
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  enableCopyButtons();
  enableDragOrdering();
});
