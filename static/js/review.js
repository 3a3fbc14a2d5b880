/* Review page: render step and problem text (untrusted) as sanitised Markdown + KaTeX. */
(function () {
  "use strict";
  document.querySelectorAll("[data-md]").forEach(function (el) {
    window.PRMRender.renderInto(el, el.textContent);
  });
})();
