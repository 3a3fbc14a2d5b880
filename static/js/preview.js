/* Live preview of Markdown + math fields (textarea[data-preview] -> #id), through the shared renderer. */
(function () {
  "use strict";
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-preview"));
    if (!out) return;
    var timer = null;
    function draw() {
      window.PRMRender.renderInto(out, area.value || "_Nothing yet._");
      window.PRMRender.markOverflow(out);
    }
    area.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(draw, 120); });
    draw();
  });
})();
