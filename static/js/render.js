/*
 * Untrusted text -> safe HTML: Markdown with LaTeX math through KaTeX.
 *
 * Model-written text is never trusted. Math is cut out before Markdown sees it
 * (so `_` and `*` inside formulas survive), the Markdown HTML is sanitised by
 * DOMPurify with a small allow-list, and only then are the KaTeX renderings
 * (trust: false, so \href and friends stay inert) put back by placeholder.
 */
(function (global) {
  "use strict";

  var ENVS = "align\\*?|aligned|equation\\*?|gather\\*?|gathered|multline\\*?|eqnarray\\*?|cases|array|" +
    "matrix|pmatrix|bmatrix|vmatrix|split";
  var TOKEN = new RegExp([
    "\\[asy\\](?<asy>[\\s\\S]*?)\\[\\/asy\\]",
    "\\$\\$(?<dd>[\\s\\S]+?)\\$\\$",
    "\\\\\\[(?<bd>[\\s\\S]+?)\\\\\\]",
    "\\\\\\((?<pi>[\\s\\S]+?)\\\\\\)",
    "(?<env>\\\\begin\\{(?<envname>" + ENVS + ")\\}[\\s\\S]+?\\\\end\\{\\k<envname>\\})",
    "(?<esc>\\\\\\$)",
    // Inline $...$ the way pandoc reads it: no space just inside the dollars and
    // no digit right after the closing one, so "$18 and $20" stays currency.
    "\\$(?=\\S)(?<im>(?:\\\\.|[^$\\\\\\n])+?)(?<=\\S)\\$(?!\\d)",
    // GSM8K calculator annotations: <<48/2=24>>
    "<<(?<calc>[^<>\\n]*)>>"
  ].join("|"), "g");
  var MARK = "\u2063";
  var MARK_RE = new RegExp(MARK + "M(\\d+)" + MARK, "g");
  var ALLOWED_TAGS = ["p", "br", "em", "strong", "del", "code", "pre", "ul", "ol", "li", "blockquote", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "div", "sub", "sup"];

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function tex(source, display) {
    try {
      return global.katex.renderToString(source, {
        displayMode: display, throwOnError: false, trust: false, strict: "ignore", output: "htmlAndMathml",
        maxExpand: 500, maxSize: 20
      });
    } catch (err) {
      // Anything KaTeX cannot handle is shown as its source, never as markup.
      return '<code class="tex-error" title="could not render">' + escapeHtml(source) + "</code>";
    }
  }

  function renderPiece(g) {
    if (g.asy !== undefined) return '<pre class="asy"><code>[asy]' + escapeHtml(g.asy) + "[/asy]</code></pre>";
    if (g.dd !== undefined) return tex(g.dd, true);
    if (g.bd !== undefined) return tex(g.bd, true);
    if (g.pi !== undefined) return tex(g.pi, false);
    if (g.env !== undefined) return tex(g.env, true);
    if (g.esc !== undefined) return "$";
    if (g.im !== undefined) return tex(g.im, false);
    if (g.calc !== undefined) return '<span class="calc" title="calculator annotation">' + escapeHtml(g.calc) + "</span>";
    return "";
  }

  function render(text) {
    var pieces = [];
    var src = String(text == null ? "" : text).split(MARK).join("");
    src = src.replace(TOKEN, function () {
      var groups = arguments[arguments.length - 1];
      pieces.push(renderPiece(groups));
      var block = groups.asy !== undefined || groups.dd !== undefined || groups.bd !== undefined ||
        groups.env !== undefined;
      var token = MARK + "M" + (pieces.length - 1) + MARK;
      return block ? "\n\n" + token + "\n\n" : token;
    });
    var html;
    try {
      html = global.marked.parse(src, { gfm: true, breaks: true, async: false });
    } catch (err) {
      html = "<p>" + escapeHtml(src) + "</p>";
    }
    var clean = global.DOMPurify.sanitize(html, {
      ALLOWED_TAGS: ALLOWED_TAGS,
      ALLOWED_ATTR: ["href", "title", "align", "colspan", "rowspan"],
      ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i
    });
    return clean.replace(MARK_RE, function (_, i) { return pieces[Number(i)] || ""; });
  }

  function renderInto(el, text) {
    el.innerHTML = render(text);
    el.querySelectorAll("a[href]").forEach(function (a) {
      a.setAttribute("rel", "noopener noreferrer nofollow");
      a.setAttribute("target", "_blank");
    });
  }

  global.PRMRender = { render: render, renderInto: renderInto, escapeHtml: escapeHtml };
})(window);
