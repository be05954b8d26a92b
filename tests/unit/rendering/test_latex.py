"""LaTeX math to Unicode: table-driven cases, malformed input, and finding math in prose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rendering.latex import (
    convert_math_in_text,
    iter_math_segments,
    latex_to_unicode,
    to_script,
)

CASES: list[tuple[str, str]] = [
    # The three examples from the spec, exactly.
    (r"x^* = (x - E[x]) / \sqrt{\text{var}(x)}", "x* = (x − E[x]) / √(var(x))"),
    (r"\mathbb{R}^{128}", "ℝ¹²⁸"),
    (r"\lambda A(t) + \eta h(t) h(t)^T", "λ A(t) + η h(t) h(t)ᵀ"),
    # Greek, lower and upper case.
    (r"\alpha \beta \gamma \delta \epsilon \theta", "α β γ δ ε θ"),
    (r"\Gamma \Delta \Theta \Lambda \Sigma \Omega", "Γ Δ Θ Λ Σ Ω"),
    (r"\phi \varphi \pi \sigma \tau \omega", "ϕ φ π σ τ ω"),
    # Fractions: atomic parts stay bare, others get parentheses.
    (r"\frac{a}{b}", "a/b"),
    (r"\frac{a+b}{c+d}", "(a+b)/(c+d)"),
    (r"\frac{1}{2}", "1/2"),
    (r"\frac{\partial L}{\partial w}", "∂L/∂w"),
    (r"\frac{-1}{2}", "−1/2"),
    (r"\dfrac{x}{y - 1}", "x/(y − 1)"),
    (r"\frac{1}{\sqrt{d_k}}", "1/√(dₖ)"),
    # Roots with and without index.
    (r"\sqrt{x}", "√x"),
    (r"\sqrt{2}", "√2"),
    (r"\sqrt{x + 1}", "√(x + 1)"),
    (r"\sqrt[3]{x}", "∛x"),
    (r"\sqrt[4]{x}", "∜x"),
    (r"\sqrt[n]{x}", "ⁿ√x"),
    # Big operators with limits.
    (r"\sum_{i=1}^{n} x_i", "∑ᵢ₌₁ⁿ xᵢ"),
    (r"\prod_{k} p_k", "∏ₖ pₖ"),
    (r"\int_0^1 f(t) \, dt", "∫₀¹ f(t) dt"),
    # Fonts.
    (r"\mathcal{L}(\theta)", "ℒ(θ)"),
    (r"\mathbf{W} \mathbf{x}", "𝐖 𝐱"),
    (r"\mathbb{E}[x]", "𝔼[x]"),
    (r"\mathrm{Var}[x]", "Var[x]"),
    (r"\text{if } x > 0", "if x > 0"),
    (r"\operatorname{softmax}(z)_i", "softmax(z)ᵢ"),
    (r"\operatorname*{arg\,max}_x f", "arg maxₓ f"),
    # Scripts: Unicode when every character has one, else _( ) / ^( ).
    (r"x_{i,j}", "xᵢ,ⱼ"),
    (r"x^{(t)}", "x⁽ᵗ⁾"),
    (r"e^{i\pi}", "e^(iπ)"),
    (r"W_{hh}", "Wₕₕ"),
    (r"x_\theta", "x_θ"),
    (r"2^{-x^2}", "2^(−x²)"),
    (r"\mathbb{1}_{x > 0}", "𝟙_(x > 0)"),
    (r"A^\top B^\intercal", "Aᵀ Bᵀ"),
    # Operators and relations.
    (r"a \cdot b \times c", "a ⋅ b × c"),
    (r"a\cdot b", "a⋅b"),
    (r"a \leq b \geq c \neq d \approx e", "a ≤ b ≥ c ≠ d ≈ e"),
    (r"x \in A, y \notin B, A \subset C", "x ∈ A, y ∉ B, A ⊂ C"),
    (r"\infty \partial \nabla", "∞ ∂∇"),
    (r"x \sim p, y \propto q", "x ∼ p, y ∝ q"),
    (r"\forall x \exists y", "∀ x ∃ y"),
    (r"a \odot b \oplus c \otimes d", "a ⊙ b ⊕ c ⊗ d"),
    (r"p(x \mid y)", "p(x ∣ y)"),
    (r"\|w\|_2^2", "‖w‖₂²"),
    (r"\not\in \not= \not\subset", "∉ ≠ ⊄"),
    # Functions.
    (r"\log x + \exp(y) + \sin \theta + \cos \phi", "log x + exp(y) + sin θ + cos ϕ"),
    (r"\max_x \min_y f", "maxₓ min_y f"),
    (r"\arg\max_\theta f(\theta)", "argmax_θ f(θ)"),
    (r"\argmin_{w} L", "argmin_w L"),
    (r"\lim_{n \to \infty} a_n", "lim_(n → ∞) aₙ"),
    # Arrows.
    (r"x \to y \rightarrow z \leftarrow w \Rightarrow v", "x → y → z ← w ⇒ v"),
    # Delimiters.
    (r"\left( \frac{a}{b} \right)", "(a/b)"),
    (r"\left. f \right|_{x=0}", "f |ₓ₌₀"),
    (r"\{1, 2\}", "{1, 2}"),
    (r"\langle u, v \rangle", "⟨u, v⟩"),
    # Accents (combining characters).
    (r"\hat{y}", "y\u0302"),
    (r"\bar{x}", "x\u0305"),
    (r"\tilde{z}", "z\u0303"),
    (r"\vec{v}", "v\u20d7"),
    (r"\dot{q}", "q\u0307"),
    (r"\hat{\theta}_i", "θ\u0302ᵢ"),
    # Dots and spacing.
    (r"1, \ldots, n", "1, …, n"),
    (r"a \cdots b", "a ⋯ b"),
    (r"a \quad b", "a \u2003 b"),
    (r"a \; b \! c", "a b c"),
    # Environments.
    (r"\begin{bmatrix} 1 & 0 \\ 0 & 1 \end{bmatrix}", "[1, 0; 0, 1]"),
    (r"\begin{pmatrix} a \\ b \end{pmatrix}", "(a; b)"),
    (r"\begin{aligned} a &= b \\ c &= d \end{aligned}", "a = b; c = d"),
    (
        r"f(x) = \begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}",
        "f(x) = {1, x > 0; 0, otherwise",
    ),
    # Other structure.
    (r"\binom{n}{k}", "(n choose k)"),
    (r"\overset{def}{=}", "=ᵈᵉᶠ"),
    (r"a \bmod b", "a mod b"),
    (r"\emptyset \ell \hbar", "∅ ℓ ℏ"),
    # Unknown macros keep their name without the backslash; braced arguments in parentheses.
    (r"\KL(p \| q)", "KL(p ‖ q)"),
    (r"\norm{x}", "norm(x)"),
    # Escaped characters.
    (r"50\% \$ \#", "50% $ #"),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_latex_to_unicode(source: str, expected: str) -> None:
    assert latex_to_unicode(source) == expected


def test_display_mode_keeps_aligned_rows_on_lines() -> None:
    source = r"\begin{aligned} a &= b \\ c &= d \end{aligned}"
    assert latex_to_unicode(source, display=True) == "a = b\nc = d"


# Every macro the spec lists: none may survive as `\name`.
LISTED_MACROS = (
    r"\alpha \Alpha \beta \gamma \Gamma \delta \Delta \epsilon \varepsilon \zeta \eta \theta "
    r"\Theta \iota \kappa \lambda \Lambda \mu \nu \xi \Xi \pi \Pi \rho \sigma \Sigma \tau "
    r"\upsilon \Upsilon \phi \Phi \varphi \chi \psi \Psi \omega \Omega "
    r"\frac{a}{b} \sqrt{x} \sqrt[3]{x} \sum \prod \int \mathbb{R} \mathcal{L} \mathbf{x} "
    r"\mathrm{d} \text{word} \operatorname{op} x_i x^2 \cdot \times \leq \geq \neq \approx "
    r"\in \notin \subset \infty \partial \nabla \log \exp \sin \cos \max \min \arg\max "
    r"\arg\min \argmax \lim \to \rightarrow \leftarrow \Rightarrow \mid \| \left( \right) "
    r"\hat{x} \bar{x} \tilde{x} \vec{x} \dot{x} \mathbb{E} \sim \propto \forall \exists "
    r"\ldots \cdots \quad \, \; \! \{ \} \top \intercal \odot \oplus \otimes"
)


def test_no_listed_macro_survives() -> None:
    rendered = latex_to_unicode(LISTED_MACROS)
    assert "\\" not in rendered, rendered


@pytest.mark.parametrize(
    "source",
    [
        "{{{unbalanced",
        "}}} closing only",
        "\\",
        "a \\",
        r"\frac{a}",
        r"\frac",
        r"\sqrt[3",
        r"x^",
        r"x_{",
        r"\begin{bmatrix} 1 & 2",
        r"\end{cases}",
        r"\left(",
        r"\not",
        "{" * 5000 + "x" + "}" * 5000,
        "x^" * 2000,
        "",
    ],
)
def test_malformed_input_never_raises(source: str) -> None:
    rendered = latex_to_unicode(source)
    assert isinstance(rendered, str)
    assert not re.search(r"\\[A-Za-z]", rendered)


def test_to_script_falls_back_to_parentheses() -> None:
    assert to_script("2", superscript=True) == "²"
    assert to_script("ij", superscript=False) == "ᵢⱼ"
    assert to_script("q", superscript=True) == "^q"
    assert to_script("xyz q", superscript=False) == "_(xyz q)"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_latex_to_unicode_never_raises(source: str) -> None:
    assert isinstance(latex_to_unicode(source), str)
    assert isinstance(latex_to_unicode(source, display=True), str)


LATEX_ALPHABET = st.sampled_from(
    [
        "\\",
        "{",
        "}",
        "^",
        "_",
        "&",
        "$",
        " ",
        "\n",
        "x",
        "1",
        "[",
        "]",
        "(",
        "-",
        r"\frac",
        r"\sqrt",
        r"\left",
        r"\right",
        r"\begin{bmatrix}",
        r"\end{bmatrix}",
        r"\\",
        r"\mathbb",
        r"\text",
        r"\hat",
        r"\not",
        r"\alpha",
        r"\foo",
    ]
)


@given(st.lists(LATEX_ALPHABET, max_size=80).map("".join))
@settings(max_examples=300, deadline=None)
def test_latex_like_input_never_raises(source: str) -> None:
    assert isinstance(latex_to_unicode(source), str)


# -- math in prose ----------------------------------------------------------------------------

PROSE_CASES: list[tuple[str, str]] = [
    ("with $x^2$ inside", "with x² inside"),
    ("it costs $5 and $10 today", "it costs $5 and $10 today"),
    ("from $5-$10", "from $5-$10"),
    ("pay $ 5 $ now", "pay $ 5 $ now"),
    ("a lone $ sign", "a lone $ sign"),
    (r"escaped \$x\$ stays", r"escaped \$x\$ stays"),
    ("before $$\\frac{a}{b}$$ after", "before\na/b\nafter"),
    ("$$x$$", "x"),
    ("two $a$ and $b$", "two a and b"),
    ("no blank line $a\n\nb$ inside", "no blank line $a\n\nb$ inside"),
    ("$$ unclosed display", "$$ unclosed display"),
    # MathJax's delimiters, as ShortScience configures them: spaces inside are math ...
    ("with $ x^2 $ spaced", "with x² spaced"),
    ("so $ x = y $ holds", "so x = y holds"),
    ("a $ f $ here", "a f here"),
    ("then $ 0 \\leq x $ holds", "then 0 ≤ x holds"),
    ("inline \\(x^2\\) here", "inline x² here"),
    ("inline \\( \\alpha + 1 \\) here", "inline α + 1 here"),
    ("display \\[x^2\\] here", "display\nx²\nhere"),
    # ... and a lone dollar in prose stays text.
    ("it costs $5 or $10", "it costs $5 or $10"),
    ("costs $5, and $x$ is", "costs $5, and x is"),
    ("costs $5 and $ \\alpha $ is", "costs $5 and α is"),
    ("a $ sign and $ another", "a $ sign and $ another"),
    ("US$ 5 million and US$ 3 million", "US$ 5 million and US$ 3 million"),
    ("between $5 and $ 10", "between $5 and $ 10"),
    ("an escaped \\\\(x\\\\) pair", "an escaped \\\\(x\\\\) pair"),
    ("open \\( never closed", "open \\( never closed"),
    ("no blank line \\(a\n\nb\\) inside", "no blank line \\(a\n\nb\\) inside"),
]


@pytest.mark.parametrize(("source", "expected"), PROSE_CASES)
def test_convert_math_in_text(source: str, expected: str) -> None:
    assert convert_math_in_text(source) == expected


@given(st.text(alphabet=st.sampled_from("$ab \\\n1{}^"), max_size=200))
@settings(max_examples=300, deadline=None)
def test_math_segments_partition_the_text(text: str) -> None:
    segments = list(iter_math_segments(text))
    assert "".join(segment.source for segment in segments) == text
    assert isinstance(convert_math_in_text(text), str)


SEED_SUMMARIES = Path(__file__).resolve().parents[2] / "fixtures" / "shortscience"
LEFT_RAW = re.compile(r"\\(?:[A-Za-z]+)|\$")


@pytest.mark.parametrize(
    "name",
    ["brac", "fast_weights", "fractional_pooling", "facenet", "virtual_adversarial"],
)
def test_every_formula_of_real_summaries_is_converted(name: str) -> None:
    """No TeX command and no `$` is left of the formulas in real ShortScience summaries,
    `$ V_D^{\\pi}(s) = ... $` (spaces inside the dollars) included."""
    source = (SEED_SUMMARIES / f"{name}.md").read_text(encoding="utf-8")
    converted = convert_math_in_text(source)
    assert not LEFT_RAW.search(converted), LEFT_RAW.findall(converted)[:5]


def test_the_spaced_formula_of_the_brac_summary() -> None:
    source = (SEED_SUMMARIES / "brac.md").read_text(encoding="utf-8")
    converted = convert_math_in_text(source)
    assert "V_D^π(s) = ∑ₜ₌₀^∞ γᵗ 𝔼" in converted
    assert "min_Q = 𝔼_((s,a,r,s') ∼ D; a' ∼ π_θ(⋅|s))" in converted


def test_math_segments_of_every_kind() -> None:
    text = "a $x$ b $$y$$ c \\(z\\) d \\[w^2\\] e \\begin{align}v\\end{align} f $5"
    segments = [(s.kind, s.content) for s in iter_math_segments(text) if s.kind != "text"]
    assert segments == [
        ("inline", "x"),
        ("display", "y"),
        ("inline", "z"),
        ("display", "w^2"),
        ("display", "\\begin{align}v\\end{align}"),
    ]
