// Lists with a bulk bar (the findings list): "select all" in the header ticks this page's rows, the
// bar counts the ticked rows, and Preview waits for a tick or "all matching". Delegated from the
// document, so it keeps working after htmx swaps the list.
(function () {
  function bulkForm(el) { return el.closest("form[data-bulk]"); }

  function refresh(form) {
    var boxes = form.querySelectorAll("tbody input[type=checkbox][name=select]");
    var ticked = form.querySelectorAll("tbody input[type=checkbox][name=select]:checked").length;
    var all = form.querySelector("input[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    var count = form.querySelector("[data-ticked-count]");
    if (count) count.textContent = ticked;
    var scope = form.querySelector("input[name=scope]:checked");
    var everything = scope && scope.value === "filter";
    if (ticked > 0 && !everything) form.querySelector("input[name=scope][value=selected]").checked = true;
    var ready = everything || ticked > 0;
    var preview = form.querySelector("[data-preview]");
    if (preview) preview.disabled = !ready;
    var hint = form.querySelector("[data-bulk-hint]");
    if (hint) hint.hidden = ready;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = bulkForm(target);
    if (!form) return;
    if (target.matches("input[data-select-all]")) {
      form.querySelectorAll("tbody input[type=checkbox][name=select]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    refresh(form);
  });

  function refreshAll() { document.querySelectorAll("form[data-bulk]").forEach(refresh); }
  document.addEventListener("DOMContentLoaded", refreshAll);
  document.addEventListener("htmx:afterSettle", refreshAll);
  refreshAll();
})();
