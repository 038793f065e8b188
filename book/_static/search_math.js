// Search results show a snippet of each page's text. The formulas in that
// text are still TeX source (MathJax typesets them only on the page itself),
// so "\(\theta_i\)" would appear as it is. Before Sphinx cuts the snippet,
// write each formula as plain symbols instead: "θ_i".
(() => {
  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε",
    varepsilon: "ε", zeta: "ζ", eta: "η", theta: "θ", vartheta: "ϑ",
    iota: "ι", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π",
    rho: "ρ", sigma: "σ", tau: "τ", upsilon: "υ", phi: "φ", varphi: "φ",
    chi: "χ", psi: "ψ", omega: "ω", Gamma: "Γ", Delta: "Δ", Theta: "Θ",
    Lambda: "Λ", Xi: "Ξ", Pi: "Π", Sigma: "Σ", Phi: "Φ", Psi: "Ψ",
    Omega: "Ω", nabla: "∇", partial: "∂", sum: "Σ", prod: "Π", int: "∫",
    infty: "∞", cdot: "·", times: "×", le: "≤", leq: "≤", ge: "≥",
    geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "~", to: "→",
    rightarrow: "→", leftarrow: "←", in: "∈", pm: "±", sqrt: "√",
    langle: "⟨", rangle: "⟩", lVert: "‖", rVert: "‖", Vert: "‖",
    top: "ᵀ", odot: "⊙", otimes: "⊗", ldots: "…", dots: "…", cdots: "⋯",
  };
  const DROP = /\\(left|right|big|Big|bigg|Bigg|mathrm|mathbf|mathbb|mathcal|boldsymbol|operatorname|text|textrm|displaystyle|quad|qquad|,|;|!)(?![A-Za-z])/g;

  const plain = (tex) =>
    tex
      .replace(/\\[()[\]]|\$/g, " ")
      .replace(DROP, " ")
      .replace(/\\frac\s*/g, "")
      .replace(/\\([A-Za-z]+)/g, (all, name) => SYMBOLS[name] ?? name)
      .replace(/\\([{}])/g, "$1")
      .replace(/[{}]/g, "")
      .replace(/\s+/g, " ")
      .trim();

  document.addEventListener("DOMContentLoaded", () => {
    if (typeof Search === "undefined" || !Search.htmlToText) return;
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (html, anchor) => {
      const doc = new DOMParser().parseFromString(html, "text/html");
      for (const el of doc.querySelectorAll(".math")) {
        el.querySelectorAll(".eqno, .headerlink").forEach((n) => n.remove());
        el.textContent = " " + plain(el.textContent) + " ";
      }
      return htmlToText(doc.documentElement.outerHTML, anchor);
    };
  });
})();
