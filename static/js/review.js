/* Manager pages: server-provided text marked data-md / data-md-answer renders through the shared path. */
(function () {
  "use strict";
  window.PRMRender.renderMarked(document);
})();
