/*
 * Untrusted text -> safe HTML: Markdown with LaTeX math through KaTeX.
 *
 * Every text a page shows (problem, answer, steps, corrections, instructions,
 * review pages) goes through here. Model-written text is never trusted: math
 * is cut out before Markdown sees it (so `_` and `*` inside formulas survive),
 * the Markdown HTML is sanitised by DOMPurify with a small allow-list, and
 * only then are the KaTeX renderings (trust: false, so \href and friends stay
 * inert) and our own fixed markup put back by placeholder.
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
  var ALLOWED_TAGS = ["p", "br", "em", "strong", "del", "code", "pre", "ul", "ol", "li", "blockquote", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "a", "span", "div", "sub", "sup"];
  // The final-answer line of PRM800K ("# Answer" then the answer) and GSM8K ("#### 72").
  // "####" only before something answer-like, so a Markdown "#### Step 2" stays a heading.
  var ANSWER_HEAD = /(^|\n)[ \t]*(?:#{1,6}[ \t]*Answer[ \t]*:?[ \t]*(?=\n|$)|####[ \t]*(?=[-+$\\\d.(]))/gi;
  // A whole step that is only "A: 26" (GSM8K model solutions).
  var ANSWER_LINE = /^\s*A:[ \t]*([^\n]+?)\s*$/;
  // Function names that may stand bare in a TeX answer ("sin x"); any other
  // run of three letters means words, and words are shown as text.
  var BARE_FUNCS = /\b(?:arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|log|ln|exp|max|min|gcd|lcm|mod|det|lim|deg)\b/g;

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function katexOptions(display, strictErrors) {
    return {
      displayMode: display, throwOnError: !!strictErrors, trust: false, strict: "ignore", output: "htmlAndMathml",
      maxExpand: 500, maxSize: 20
    };
  }

  function tex(source, display) {
    var html;
    try {
      html = global.katex.renderToString(source, katexOptions(display, false));
    } catch (err) {
      // Anything KaTeX cannot handle is shown as its source, never as markup.
      return '<code class="tex-error" title="could not render">' + escapeHtml(source) + "</code>";
    }
    // Wide displays scroll inside their own box; markOverflow() adds the cue.
    return display ? '<span class="math-block"><span class="math-scroll">' + html + "</span></span>" : html;
  }

  function asy(source) {
    return '<div class="asy" role="figure" aria-label="Asymptote diagram (source)">' +
      '<div class="asy-label">Asymptote diagram (source)</div>' +
      "<pre><code>" + escapeHtml(source.trim()) + "</code></pre></div>";
  }

  function renderPiece(g) {
    if (g.asy !== undefined) return asy(g.asy);
    if (g.dd !== undefined) return tex(g.dd, true);
    if (g.bd !== undefined) return tex(g.bd, true);
    if (g.pi !== undefined) return tex(g.pi, false);
    if (g.env !== undefined) return tex(g.env, true);
    if (g.esc !== undefined) return "$";
    if (g.im !== undefined) return tex(g.im, false);
    if (g.calc !== undefined) return '<span class="calc" title="calculator annotation">' + escapeHtml(g.calc) + "</span>";
    return "";
  }

  // Each render marks its pieces with a fresh random nonce, so text cannot name
  // (and reuse) a piece, whatever it spells out with entities.
  function context() {
    var nonce = Math.random().toString(36).slice(2, 10);
    return { nonce: nonce, pieces: [], re: new RegExp(MARK + nonce + "M(\\d+)" + MARK, "g") };
  }

  // Raw HTML in the source is shown as the text it is, never parsed: "x<y and y>0" is an
  // inequality to a mathematician and an open <y> tag to Markdown, and a sanitiser that
  // drops the tag drops the words with it ("x0"). Nothing we render needs author HTML.
  var md = null;
  function parser() {
    if (!md) {
      md = new global.marked.Marked({
        gfm: true, breaks: true, async: false,
        renderer: { html: function (token) { return escapeHtml(token.text); } }
      });
    }
    return md;
  }

  function markdown(text, ctx) {
    var src = String(text == null ? "" : text).split(MARK).join("");
    src = src.replace(TOKEN, function () {
      var groups = arguments[arguments.length - 1];
      ctx.pieces.push(renderPiece(groups));
      var block = groups.asy !== undefined || groups.dd !== undefined || groups.bd !== undefined ||
        groups.env !== undefined;
      var token = MARK + ctx.nonce + "M" + (ctx.pieces.length - 1) + MARK;
      return block ? "\n\n" + token + "\n\n" : token;
    });
    var html;
    try {
      html = parser().parse(src);
    } catch (err) {
      html = "<p>" + escapeHtml(src) + "</p>";
    }
    return global.DOMPurify.sanitize(html, {
      ALLOWED_TAGS: ALLOWED_TAGS,
      ALLOWED_ATTR: ["href", "title", "align", "colspan", "rowspan"],
      ADD_URI_SAFE_ATTR: ["align", "colspan", "rowspan"],
      ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i
    });
  }

  function htmlFragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  /*
   * Put the rendered pieces in place of their markers in the sanitised HTML.
   * Only text nodes are searched: a marker that Markdown moved into an
   * attribute (a link title, say) is dropped, never expanded, so KaTeX markup
   * can never land inside an attribute value. A block piece standing alone in
   * its paragraph replaces the paragraph (a <div> must not sit in a <p>).
   */
  function fill(html, ctx) {
    var root = htmlFragment(html);
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var texts = [];
    while (walker.nextNode()) if (walker.currentNode.nodeValue.indexOf(MARK) >= 0) texts.push(walker.currentNode);
    texts.forEach(function (node) {
      var parts = node.nodeValue.split(ctx.re);  // text, index, text, index, ..., text
      var frag = document.createDocumentFragment();
      parts.forEach(function (part, k) {
        if (k % 2 === 0) {
          if (part) frag.appendChild(document.createTextNode(part.split(MARK).join("")));
        } else {
          frag.appendChild(htmlFragment(ctx.pieces[Number(part)] || ""));
        }
      });
      var parent = node.parentNode;
      var alone = parts.length === 3 && !parts[0].trim() && !parts[2].trim();
      if (alone && parent.nodeName === "P" && parent.childNodes.length === 1) parent.replaceWith(frag);
      else parent.replaceChild(frag, node);
    });
    root.querySelectorAll("*").forEach(function (el) {
      Array.prototype.slice.call(el.attributes).forEach(function (a) {
        if (a.value.indexOf(MARK) >= 0) el.setAttribute(a.name, a.value.replace(ctx.re, "").split(MARK).join(""));
      });
    });
    var out = document.createElement("div");
    out.appendChild(root);
    return out.innerHTML;
  }

  // Does an answer string without delimiters read as TeX ("\frac{1}{2}", "3R^2", "\{1, 6\}")
  // rather than words ("Tuesday")? Numbers count as TeX: they are set like math in PRM800K.
  function looksLikeTex(s) {
    if (!s || s.length > 400 || /\n\s*\n/.test(s)) return false;
    var bare = s.replace(/\\[A-Za-z]+/g, " ").replace(BARE_FUNCS, " ");
    return !/[A-Za-z]{3,}/.test(bare);
  }

  // An answer: delimited math and Markdown as usual, bare TeX as math, anything else as text.
  function answerHtml(text) {
    var s = String(text == null ? "" : text).trim();
    if (/\$|\\\(|\\\[|\\begin\{/.test(s) || !looksLikeTex(s)) {
      var ctx = context();
      var html = markdown(s, ctx).replace(/^<p>([\s\S]*)<\/p>\s*$/, "$1");
      return '<span class="answer-text">' + fill(html, ctx) + "</span>";
    }
    try {
      return global.katex.renderToString(s, katexOptions(false, true));
    } catch (err) {
      return '<span class="answer-text">' + escapeHtml(s) + "</span>";
    }
  }

  function splitFinalAnswer(text) {
    var src = String(text == null ? "" : text);
    var line = ANSWER_LINE.exec(src);
    if (line) return { before: "", answer: line[1] };
    var last = null, m;
    ANSWER_HEAD.lastIndex = 0;
    while ((m = ANSWER_HEAD.exec(src)) !== null) last = { index: m.index + m[1].length, end: ANSWER_HEAD.lastIndex };
    if (!last) return null;
    var answer = src.slice(last.end).trim();
    if (!answer) return null;
    return { before: src.slice(0, last.index), answer: answer };
  }

  function render(text) {
    var split = splitFinalAnswer(text);
    var ctx = context();
    if (!split) return fill(markdown(text, ctx), ctx);
    var before = split.before.trim() ? fill(markdown(split.before, ctx), ctx) : "";
    return before + '<div class="final-answer" data-role="final-answer"><span class="final-label">Answer:</span> ' +
      answerHtml(split.answer) + "</div>";
  }

  // The ground-truth answer, boxed as in PRM800K.
  function renderBoxedAnswer(text) {
    return '<span class="final-label">Answer:</span> <span class="boxed">' + answerHtml(text) + "</span>";
  }

  function harden(el) {
    el.querySelectorAll("a[href]").forEach(function (a) {
      a.setAttribute("rel", "noopener noreferrer nofollow");
      a.setAttribute("target", "_blank");
    });
  }

  function renderInto(el, text) {
    el.innerHTML = render(text);
    harden(el);
  }

  function renderAnswerInto(el, text) {
    el.innerHTML = renderBoxedAnswer(text);
    harden(el);
  }

  // Mark wide math that scrolls sideways, so the cue shows. Reads layout only:
  // call it once after a page's text is in place (and on resize).
  function markOverflow(root) {
    var blocks = (root || document).querySelectorAll(".math-block");
    var wide = [];
    blocks.forEach(function (b) {
      var s = b.firstElementChild;
      wide.push(!!s && s.scrollWidth > s.clientWidth + 1);
    });
    blocks.forEach(function (b, i) {
      if (wide[i]) b.setAttribute("data-overflow", "true"); else b.removeAttribute("data-overflow");
    });
  }

  // The cue goes once the reader has scrolled a wide display to its end.
  document.addEventListener("scroll", function (ev) {
    var s = ev.target;
    if (!s.classList || !s.classList.contains("math-scroll")) return;
    var atEnd = s.scrollLeft + s.clientWidth >= s.scrollWidth - 2;
    if (atEnd) s.parentNode.setAttribute("data-at-end", "true"); else s.parentNode.removeAttribute("data-at-end");
  }, true);

  // Pages that render server-provided text mark it with data-md (Markdown) or
  // data-md-answer (an answer string); their content is the raw text.
  function renderMarked(root) {
    (root || document).querySelectorAll("[data-md]").forEach(function (el) { renderInto(el, el.textContent); });
    (root || document).querySelectorAll("[data-md-answer]").forEach(function (el) {
      el.innerHTML = answerHtml(el.textContent);
      harden(el);
    });
    markOverflow(root);
  }

  global.PRMRender = {
    render: render, renderInto: renderInto, renderAnswerInto: renderAnswerInto, answerHtml: answerHtml,
    renderBoxedAnswer: renderBoxedAnswer, looksLikeTex: looksLikeTex, markOverflow: markOverflow,
    renderMarked: renderMarked, escapeHtml: escapeHtml
  };
})(window);
