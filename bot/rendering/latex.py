"""LaTeX math to readable Unicode text.

ShortScience summaries use MathJax-style math (`$...$` inline, `$$...$$` display). Discord
cannot render it, so we turn it into Unicode that reads like the formula:
`\\sqrt{\\text{var}(x)}` becomes `√(var(x))`, `\\mathbb{R}^{128}` becomes `ℝ¹²⁸`.

The symbol tables come from unicodeit (thousands of `\\name -> character` entries, the
blackboard/calligraphic/bold alphabets and the sub/superscript characters). unicodeit's own
`replace()` is a plain string substitution (it turns `\\index` into `∈dex` and knows nothing
about `\\frac` or argument structure), so this module tokenises and parses the math itself and
only *looks up* characters in unicodeit's tables.

Policies (documented for readers of the output):
- Unknown macros keep their name without the backslash (`\\KL` -> `KL`); braced arguments
  that follow directly are shown in parentheses (`\\norm{x}` -> `norm(x)`).
- Source spacing is kept (collapsed to single spaces), so `\\lambda A` stays `λ A`.
- Nothing here raises: malformed input (unbalanced braces, a trailing backslash) degrades to
  the best reading we can produce.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from unicodeit.data import COMBININGMARKS, REPLACEMENTS, SUBSUPERSCRIPTS

from bot.rendering.units import unit

# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _build_symbol_table() -> dict[str, str]:
    symbols: dict[str, str] = {}
    for latex, char in REPLACEMENTS:
        match = re.fullmatch(r"\\([A-Za-z]+|[^A-Za-z])", latex)
        if match:
            symbols.setdefault(match.group(1), char)
    return symbols


def _build_font_table() -> dict[tuple[str, str], str]:
    """(font command, plain character) -> styled character, e.g. ('mathbb', 'R') -> 'ℝ'."""
    table: dict[tuple[str, str], str] = {}
    for latex, char in REPLACEMENTS:
        match = re.fullmatch(r"\\(math[a-z]+)\{(\\[A-Za-z]+|.)\}", latex)
        if not match:
            continue
        font, inner = match.groups()
        if inner.startswith("\\"):
            plain = _SYMBOLS.get(inner[1:])
            if plain is None:
                continue
            inner = plain
        table.setdefault((font, inner), char)
    return table


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SYMBOLS: dict[str, str] = _build_symbol_table()
_SYMBOLS.update(
    {
        # unicodeit choices that read badly, or LaTeX meanings it gets wrong.
        "langle": "⟨",
        "rangle": "⟩",
        "star": "⋆",
        "i": "ı",
        "j": "ȷ",
        "square": "□",
        "Box": "□",
        "backslash": "∖",
        "setminus": "∖",
        "lbrace": "{",
        "rbrace": "}",
        "lbrack": "[",
        "rbrack": "]",
        "vert": "|",
        "lvert": "|",
        "rvert": "|",
        "Vert": "‖",
        "lVert": "‖",
        "rVert": "‖",
        "dots": "…",
        "dotsc": "…",
        "dotso": "…",
        "dotsb": "⋯",
        "dotsm": "⋯",
        "dotsi": "⋯",
        "colon": ":",
        "degree": "°",
        "prime": "′",
        # Spacing: plain spaces read best in a chat client.
        ",": " ",
        ":": " ",
        ";": " ",
        " ": " ",
        "\n": " ",
        "\t": " ",
        "!": "",
        "-": "",
        "/": "",
        "quad": "\u2003",
        "qquad": "\u2003\u2003",
        "enspace": " ",
        "thinspace": " ",
        "medspace": " ",
        "thickspace": " ",
        "negthinspace": "",
        "negmedspace": "",
        "negthickspace": "",
        # Greek capitals that look like Latin ones (not LaTeX commands, but people write them).
        "Alpha": "Α",
        "Beta": "Β",
        "Epsilon": "Ε",
        "Zeta": "Ζ",
        "Eta": "Η",
        "Iota": "Ι",
        "Kappa": "Κ",
        "Mu": "Μ",
        "Nu": "Ν",
        "Omicron": "Ο",
        "Rho": "Ρ",
        "Tau": "Τ",
        "Chi": "Χ",
        "omicron": "ο",
    }
)
_SYMBOLS.pop("h", None)  # unicodeit maps \h to the Planck constant; not a LaTeX command.

_FONT_TABLE: dict[tuple[str, str], str] = _build_font_table()

# Font commands whose letters have Unicode styled alphabets worth using.
_STYLED_FONTS: dict[str, str] = {
    "mathbb": "mathbb",
    "mathbbm": "mathbb",
    "mathds": "mathbb",
    "Bbb": "mathbb",
    "mathcal": "mathcal",
    "mathscr": "mathcal",
    "mathfrak": "mathfrak",
    "mathbf": "mathbf",
    "bm": "mathbf",
    "boldsymbol": "mathbf",
    "mathbold": "mathbf",
    "pmb": "mathbf",
    "mathbfit": "mathbf",
}
# Font and text commands shown as plain text: math italic/sans/mono letters read worse than
# plain ones in a chat client.
_PLAIN_MATH_FONTS = frozenset({"mathrm", "mathit", "mathsf", "mathtt", "mathnormal", "mathsfit"})
_TEXT_COMMANDS = _words(
    """
    text textrm textit textbf textsf texttt textnormal textup textsl textsc emph mbox hbox
    operatorname mathop
    """
)

_FUNCTION_NAMES = _words(
    """
    log ln lg exp sin cos tan cot sec csc sinh cosh tanh coth arcsin arccos arctan max min
    sup inf lim liminf limsup det dim ker deg gcd lcm hom Pr arg argmax argmin mod tr Tr
    diag sgn softmax
    """
)

_COMBINING_MARKS: dict[str, str] = {name[1:]: mark for name, mark in COMBININGMARKS}
_COMBINING_MARKS.update(
    {
        "widehat": "\u0302",
        "widetilde": "\u0303",
        "widebar": "\u0305",
        "overrightarrow": "\u20d7",
        "check": "\u030c",
        "mathring": "\u030a",
    }
)
# Marks that read as a line over/under the whole argument are applied to every character.
_LINE_MARKS = frozenset({"bar", "overline", "underline", "widebar", "doubleunderline"})

_BIG_OPERATORS = _words(
    """
    sum prod coprod int iint iiint oint bigcup bigcap bigoplus bigotimes bigodot bigvee
    bigwedge bigsqcup
    """
)

_DROPPED_COMMANDS = _words(
    """
    left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr bigm
    Bigm displaystyle textstyle scriptstyle scriptscriptstyle limits nolimits nonumber notag
    centering strut allowbreak relax rm bf it cal sf tt
    """
)
# Commands whose (single braced) argument is not shown at all.
_ARGUMENT_DROPPED = frozenset({"label", "color", "phantom", "vphantom", "hphantom", "ref"})
# Commands shown as their (last) argument.
_ARGUMENT_KEPT = _words(
    """
    boxed cancel bcancel xcancel mathrel mathbin mathord mathopen mathclose mathpunct
    mathclap mathllap mathrlap clap llap rlap smash overbrace underbrace fbox textnormal
    """
)


def _build_script_map(prefix: str) -> dict[str, str]:
    mapping = {
        source[1:]: target for source, target in SUBSUPERSCRIPTS if source.startswith(prefix)
    }
    # unicodeit maps ^V and ^. to letters of other scripts (Hangul, Canadian syllabics).
    # `<`, `>` map to arrowhead modifier letters that read as noise.
    for unreadable in ("V", ".", "<", ">"):
        mapping.pop(unreadable, None)
    mapping[","] = ","  # `x_{i,j}` reads fine as xᵢ,ⱼ
    return mapping


_SUPERSCRIPTS: dict[str, str] = _build_script_map("^")
_SUPERSCRIPTS.update({"⊤": "ᵀ", "⊺": "ᵀ", "'": "′", "′": "′", "θ": "ᶿ", "∗": "*", "ι": "ᶥ"})
_SUBSCRIPTS: dict[str, str] = _build_script_map("_")

_MATRIX_DELIMITERS: dict[str, tuple[str, str]] = {
    "matrix": ("", ""),
    "smallmatrix": ("", ""),
    "array": ("", ""),
    "subarray": ("", ""),
    "pmatrix": ("(", ")"),
    "bmatrix": ("[", "]"),
    "Bmatrix": ("{", "}"),
    "vmatrix": ("|", "|"),
    "Vmatrix": ("‖", "‖"),
    "cases": ("{ ", ""),
    "dcases": ("{ ", ""),
    "rcases": ("", " }"),
    "substack": ("", ""),
}
# Environments with a column specification argument to skip.
_ENVIRONMENTS_WITH_SPEC = frozenset({"array", "tabular", "alignat", "alignat*", "subarray"})

_NEGATIONS: dict[str, str] = {
    "=": "≠",
    "in": "∉",
    "subset": "⊄",
    "supset": "⊅",
    "subseteq": "⊈",
    "supseteq": "⊉",
    "exists": "∄",
    "equiv": "≢",
    "sim": "≁",
    "approx": "≉",
    "leq": "≰",
    "geq": "≱",
    "mid": "∤",
    "<": "≮",
    ">": "≯",
}

# Characters that, at the top level of a fraction part, make us add parentheses.
_LOOSE_OPERATORS = frozenset("+−-±∓×÷·⋅∗*/=<>≤≥≠≈≡∼≃≅∝∈∉⊂⊃⊆⊇∪∩∧∨→←↔⇒⇐⇔↦,;:|∣")
_OPENING_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "|": "|", "‖": "‖", "⌊": "⌋", "⌈": "⌉"}

# Symbols that read as prefixes: the source space after them is dropped (`∂L`, `∇f`).
_PREFIX_SYMBOLS = frozenset({"∂", "∇", "¬", "√"})

_MAX_GROUP_DEPTH = 60

# --------------------------------------------------------------------------------------------
# Tokeniser
# --------------------------------------------------------------------------------------------

TokenKind = Literal["command", "char", "space", "open", "close", "sup", "sub", "align", "newline"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    # For control words: whether whitespace followed the name in the source.
    spaced: bool = False


# Characters that are a token of their own kind; any other character is a "char" token.
_SINGLE_CHARACTER_KINDS: Final[dict[str, TokenKind]] = {
    "{": "open",
    "}": "close",
    "^": "sup",
    "_": "sub",
    "&": "align",
}


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char == "\\":
            if index + 1 >= length:
                break  # a lone trailing backslash carries no meaning
            following = source[index + 1]
            if following.isascii() and following.isalpha():
                end = index + 1
                while end < length and source[end].isascii() and source[end].isalpha():
                    end += 1
                name = source[index + 1 : end]
                if name == "operatorname" and end < length and source[end] == "*":
                    end += 1
                spaced = False
                while end < length and source[end] in " \t\n\r":
                    spaced = True
                    end += 1
                tokens.append(_Token("command", name, spaced))
                index = end
            elif following == "\\":
                tokens.append(_Token("newline", "\\\\"))
                index += 2
            else:
                tokens.append(_Token("command", following))
                index += 2
        elif char in " \t\n\r":
            end = index
            while end < length and source[end] in " \t\n\r":
                end += 1
            tokens.append(_Token("space", " "))
            index = end
        else:
            tokens.append(_Token(_SINGLE_CHARACTER_KINDS.get(char, "char"), char))
            index += 1
    return tokens


# --------------------------------------------------------------------------------------------
# Parser / renderer
# --------------------------------------------------------------------------------------------


def _is_operator_symbol(text: str) -> bool:
    """Binary operators, relations and arrows: no trailing space unless one came before."""
    return len(text) == 1 and unicodedata.category(text) == "Sm" and text not in "∂∇∞√∑∏∫"


def _strip_outer_brackets_balanced(text: str) -> bool:
    """True when `text` is one bracketed unit like `(a+b)` or `|x|`."""
    if len(text) < 2:
        return False
    closing = _OPENING_BRACKETS.get(text[0])
    if closing is None or text[-1] != closing:
        return False
    if text[0] == closing:  # |...| and ‖...‖: trust the pair
        return text.count(text[0]) == 2
    depth = 0
    for position, char in enumerate(text):
        if char == text[0]:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0 and position != len(text) - 1:
                return False
    return depth == 0


def _needs_parentheses(text: str) -> bool:
    """Whether a fraction part must be parenthesised to keep its meaning after `/`."""
    if not text or _strip_outer_brackets_balanced(text):
        return False
    depth = 0
    for position, char in enumerate(text):
        if position == 0 and char in "−-+":
            continue  # a leading sign is unary: `-1/2` reads right without parentheses
        if char in "([{⟨":
            depth += 1
        elif char in ")]}⟩":
            depth = max(0, depth - 1)
        elif depth == 0 and (char.isspace() or char in _LOOSE_OPERATORS):
            return True
    return False


def _is_single_grapheme(text: str) -> bool:
    return len(text) >= 1 and all(unicodedata.combining(char) for char in text[1:])


def _parenthesise(text: str) -> str:
    return f"({text})" if _needs_parentheses(text) else text


def to_script(text: str, *, superscript: bool) -> str:
    """`text` as Unicode super/subscript characters, or `^(...)`/`_(...)` when some lack one."""
    mapping = _SUPERSCRIPTS if superscript else _SUBSCRIPTS
    marker = "^" if superscript else "_"
    compact = "".join(text.split())
    if not compact:
        return ""
    if all(char in mapping for char in compact):
        return "".join(mapping[char] for char in compact)
    text = text.strip()
    if _is_single_grapheme(text) or _strip_outer_brackets_balanced(text):
        return marker + text
    return f"{marker}({text})"


def _apply_mark(text: str, mark: str, *, every_character: bool) -> str:
    if not text:
        return ""
    if _is_single_grapheme(text):
        return text + mark
    targets_alnum = any(char.isalnum() for char in text)
    pieces: list[str] = []
    for char in text:
        pieces.append(char)
        if char.isspace() or unicodedata.combining(char):
            continue
        if every_character or not targets_alnum or char.isalnum():
            pieces.append(mark)
    return "".join(pieces)


def _style_letters(text: str, font: str) -> str:
    return "".join(_FONT_TABLE.get((font, char), char) for char in text)


class _Renderer:
    def __init__(self, tokens: list[_Token], *, display: bool) -> None:
        self.tokens = tokens
        self.position = 0
        self.display = display
        self.environments: list[str] = []
        self.depth = 0

    # -- token access ------------------------------------------------------------------------

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _skip_spaces(self) -> None:
        while (token := self._peek()) is not None and token.kind == "space":
            self.position += 1

    def _raw_group_text(self) -> str:
        """The source text of a braced group, for environment names and the like."""
        self._skip_spaces()
        token = self._peek()
        if token is None or token.kind != "open":
            return ""
        self.position += 1
        return "".join(token.text for token in self._group_tokens()).strip()

    def _group_tokens(self) -> list[_Token]:
        """Consume up to the `}` matching an already consumed `{`; the tokens in between."""
        depth = 1
        inside: list[_Token] = []
        while (token := self._peek()) is not None:
            self.position += 1
            if token.kind == "open":
                depth += 1
            elif token.kind == "close":
                depth -= 1
                if depth == 0:
                    break
            inside.append(token)
        return inside

    def _optional_argument(self) -> str | None:
        """`[...]` right after a command (e.g. the root index of \\sqrt)."""
        self._skip_spaces()
        token = self._peek()
        if token is None or token.kind != "char" or token.text != "[":
            return None
        start = self.position
        self.position += 1
        depth = 0
        inner: list[_Token] = []
        while (token := self._peek()) is not None:
            self.position += 1
            if token.kind == "open":
                depth += 1
            elif token.kind == "close":
                depth -= 1
            elif token.kind == "char" and token.text == "]" and depth <= 0:
                nested = _Renderer(inner, display=False)
                nested.depth = self.depth + 1
                return nested.render_sequence(text_mode=False)
            inner.append(token)
        self.position = start  # no closing bracket: it was just a character
        return None

    # -- rendering ---------------------------------------------------------------------------

    def render_sequence(self, *, text_mode: bool, stop_at_close: bool = False) -> str:
        pieces: list[str] = []
        previous_spaced = True  # start of a sequence counts as spaced
        while (token := self._peek()) is not None:
            if token.kind == "close":
                self.position += 1
                if stop_at_close:
                    break
                continue  # unbalanced `}`: ignore
            if token.kind == "space":
                self.position += 1
                pieces.append(" ")
                previous_spaced = True
                continue
            if token.kind in ("sup", "sub") and not text_mode:
                # A script with nothing before it (`^2` at the start, or after a space).
                self.position += 1
                pieces.append(self._script(token.kind == "sup"))
                previous_spaced = False
                continue
            if token.kind == "command" and token.text == "end" and not text_mode:
                self.position += 1
                name = self._raw_group_text()
                while pieces and pieces[-1] in ("; ", ", ", "\n", " ", ""):
                    pieces.pop()
                pieces.append(self._end_environment(name))
                previous_spaced = False
                continue
            before = self.position
            text, is_tight_operator = self._render_atom(text_mode=text_mode)
            took_arguments = self.position > before + 1
            if not text_mode:
                text += self._scripts()
            pieces.append(text)
            last = self.tokens[self.position - 1]
            if last.kind == "command" and last.spaced:
                # Keep the source space after a control word (`\lambda A` -> `λ A`), except
                # after an operator written tight on its left (`a\cdot b` -> `a⋅b`) and
                # after prefix operators (`\partial L` -> `∂L`).
                keep_space = took_arguments or not (is_tight_operator and not previous_spaced)
                if keep_space and not (text in _PREFIX_SYMBOLS and not took_arguments):
                    pieces.append(" ")
                    previous_spaced = True
                    continue
            previous_spaced = text == "" and previous_spaced
        return "".join(pieces)

    def _scripts(self) -> str:
        """Sub/superscripts attached to the atom just rendered."""
        result: list[str] = []
        while True:
            save = self.position
            self._skip_spaces()
            token = self._peek()
            if token is None or token.kind not in ("sup", "sub"):
                self.position = save
                break
            self.position += 1
            result.append(self._script(token.kind == "sup"))
        # Primes after a script (`x_i'`) read fine as-is; nothing else to do.
        return "".join(result)

    def _script(self, superscript: bool) -> str:
        argument = self._argument()
        return to_script(argument, superscript=superscript)

    def _argument(self, *, text_mode: bool = False) -> str:
        """One macro argument: a braced group, a single command or a single character."""
        self._skip_spaces()
        token = self._peek()
        if token is None:
            return ""
        if token.kind == "open":
            self.position += 1
            return self._group(text_mode=text_mode)
        if token.kind in ("close", "align", "newline"):
            return ""
        if token.kind in ("sup", "sub"):
            self.position += 1
            return token.text
        text, _ = self._render_atom(text_mode=text_mode)
        return text

    def _group(self, *, text_mode: bool) -> str:
        """Render up to the matching `}` (the `{` is already consumed)."""
        if self.depth >= _MAX_GROUP_DEPTH:
            return self._flatten_group()
        self.depth += 1
        try:
            return self.render_sequence(text_mode=text_mode, stop_at_close=True).strip()
        finally:
            self.depth -= 1

    def _flatten_group(self) -> str:
        """Pathologically deep nesting: skip structure, keep characters."""
        parts: list[str] = []
        for token in self._group_tokens():
            if token.kind in ("open", "close"):
                continue
            if token.kind == "command":
                parts.append(_SYMBOLS.get(token.text, token.text))
            elif token.kind != "align":
                parts.append(token.text)
        return "".join(parts)

    def _render_atom(self, *, text_mode: bool) -> tuple[str, bool]:
        """Render one token (and its arguments). Returns (text, is_tight_operator)."""
        token = self.tokens[self.position]
        self.position += 1
        if token.kind == "char":
            if text_mode:
                return ("" if token.text == "$" else token.text), False
            if token.text == "-":
                return "−", False
            if token.text == "~":
                return " ", False
            return token.text, False
        if token.kind == "open":
            return self._group(text_mode=text_mode), False
        if token.kind in ("sup", "sub"):
            return token.text, False
        if token.kind == "align":
            return self._alignment_separator(), False
        if token.kind == "newline":
            return self._row_separator(), False
        if token.kind == "space":
            return " ", False
        if self.depth >= _MAX_GROUP_DEPTH:
            # Pathological nesting (`\frac\frac\frac...`): stop interpreting arguments.
            return _SYMBOLS.get(token.text, token.text), False
        self.depth += 1
        try:
            return self._command(token.text, text_mode=text_mode)
        finally:
            self.depth -= 1

    def _alignment_separator(self) -> str:
        if self.environments and self.environments[-1] in _MATRIX_DELIMITERS:
            return ", "
        return ""

    def _row_separator(self) -> str:
        # `\\[4pt]` style spacing argument is noise.
        save = self.position
        if self._optional_argument() is None:
            self.position = save
        if self.environments and self.environments[-1] in _MATRIX_DELIMITERS:
            return "; "
        return "\n" if self.display else "; "

    def _begin_environment(self) -> str:
        name = self._raw_group_text()
        if name in _ENVIRONMENTS_WITH_SPEC:
            self._raw_group_text()
        self.environments.append(name)
        return _MATRIX_DELIMITERS.get(name, ("", ""))[0]

    def _end_environment(self, name: str) -> str:
        if self.environments:
            self.environments.pop()
        return _MATRIX_DELIMITERS.get(name, ("", ""))[1]

    def _command(self, name: str, *, text_mode: bool) -> tuple[str, bool]:
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            numerator = self._argument()
            denominator = self._argument()
            return f"{_parenthesise(numerator)}/{_parenthesise(denominator)}", False
        if name in ("binom", "dbinom", "tbinom"):
            top = self._argument()
            bottom = self._argument()
            return f"({top} choose {bottom})", False
        if name == "sqrt":
            return self._square_root(), False
        if name in _STYLED_FONTS:
            return _style_letters(self._argument(), _STYLED_FONTS[name]), False
        if name in _PLAIN_MATH_FONTS:
            return self._argument(), False
        if name in _TEXT_COMMANDS or name == "operatorname*":
            return self._argument(text_mode=True), False
        if name in _COMBINING_MARKS:
            return (
                _apply_mark(
                    self._argument(),
                    _COMBINING_MARKS[name],
                    every_character=name in _LINE_MARKS,
                ),
                False,
            )
        if name in ("overset", "stackrel"):
            above = self._argument()
            base = self._argument()
            return base + to_script(above, superscript=True), False
        if name == "underset":
            below = self._argument()
            base = self._argument()
            return base + to_script(below, superscript=False), False
        if name in ("xrightarrow", "xleftarrow"):
            self._optional_argument()
            label = self._argument()
            arrow = "→" if name == "xrightarrow" else "←"
            return arrow + to_script(label, superscript=True), True
        if name == "begin":
            return self._begin_environment(), False
        if name == "end":  # only reached inside text mode or an argument
            return self._end_environment(self._raw_group_text()), False
        if name in ("left", "right", "middle") or name in _DROPPED_COMMANDS:
            if name in ("left", "right", "middle"):
                self._skip_spaces()
                following = self._peek()
                if following is not None and following.kind == "char" and following.text == ".":
                    self.position += 1  # `\left.` is an invisible delimiter
            return "", False
        if name == "not":
            return self._negation(), True
        if name in _ARGUMENT_DROPPED:
            self._argument()
            return "", False
        if name in ("textcolor", "colorbox"):
            self._argument()
            return self._argument(), False
        if name in _ARGUMENT_KEPT:
            return self._argument(), False
        if name in ("hspace", "hspace*", "hskip", "kern", "mkern", "mskip"):
            self._argument()
            return " ", False
        if name == "tag":
            return f" ({self._argument(text_mode=True)})", False
        if name == "pmod":
            return f" (mod {self._argument()})", False
        if name == "bmod":
            return " mod ", False
        if name in ("substack",):
            self.environments.append("substack")
            try:
                return self._argument(), False
            finally:
                self.environments.pop()
        if name in _FUNCTION_NAMES:
            return name, False
        symbol = _SYMBOLS.get(name)
        if symbol is not None:
            is_operator = name not in _BIG_OPERATORS and _is_operator_symbol(symbol)
            return symbol, is_operator
        return self._unknown_command(name), False

    def _square_root(self) -> str:
        index = self._optional_argument()
        radicand = self._argument()
        bare = (
            _is_single_grapheme(radicand)
            or radicand.isdigit()
            or _strip_outer_brackets_balanced(radicand)
        )
        body = radicand if bare else f"({radicand})"
        if index is None or index.strip() in ("", "2"):
            return "√" + body
        index = index.strip()
        if index == "3":
            return "∛" + body
        if index == "4":
            return "∜" + body
        raised = to_script(index, superscript=True)
        if raised.startswith("^"):
            return f"({index})√{body}"
        return raised + "√" + body

    def _negation(self) -> str:
        self._skip_spaces()
        token = self._peek()
        if token is None:
            return "¬"
        if token.kind == "char" and token.text in _NEGATIONS:
            self.position += 1
            return _NEGATIONS[token.text]
        if token.kind == "command" and token.text in _NEGATIONS:
            self.position += 1
            return _NEGATIONS[token.text]
        text, _ = self._render_atom(text_mode=False)
        return text + "\u0338" if text else "¬"

    def _unknown_command(self, name: str) -> str:
        if not (name.isascii() and name.isalpha()):
            return name  # an escaped character such as `\$` or `\%`
        arguments: list[str] = []
        while (token := self._peek()) is not None and token.kind == "open":
            self.position += 1
            arguments.append(self._group(text_mode=False))
        return name + "".join(f"({argument})" for argument in arguments)


_SPACES = re.compile(r"[ \t]{2,}")
_SPACES_AROUND_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")
_SPACE_AFTER_OPENING = re.compile(r"([(\[{⟨⌊⌈]) +")
_SPACE_BEFORE_CLOSING = re.compile(r" +([)\]}⟩⌋⌉,;])")


def latex_to_unicode(source: str, *, display: bool = False) -> str:
    """Render the body of a math expression (without `$` delimiters) as Unicode text.

    `display=True` keeps `\\\\` row breaks (align/aligned) as line breaks; inline they become
    `; `. Never raises.
    """
    try:
        renderer = _Renderer(_tokenize(source), display=display)
        rendered = renderer.render_sequence(text_mode=False)
    except RecursionError:  # guarded by _MAX_GROUP_DEPTH; belt and braces
        rendered = re.sub(r"\\([A-Za-z]+)", lambda match: _SYMBOLS.get(match[1], match[1]), source)
        rendered = rendered.replace("{", "").replace("}", "")
    rendered = _SPACES.sub(" ", rendered)
    rendered = _SPACES_AROUND_NEWLINE.sub("\n", rendered)
    # `\left( x \right)` is spaced for the LaTeX author's eyes; `(x)` reads better.
    rendered = _SPACE_AFTER_OPENING.sub(r"\1", rendered)
    rendered = _SPACE_BEFORE_CLOSING.sub(r"\1", rendered)
    return rendered.strip()


# --------------------------------------------------------------------------------------------
# Finding math in prose
# --------------------------------------------------------------------------------------------
#
# Delimiters are MathJax's as ShortScience configures them: `$...$` and `\(...\)` inline;
# `$$...$$`, `\[...\]` and display environments (`\begin{align}...`). MathJax lets any `$`
# open math, but prose also uses `$` for money, so an inline `$...$` must also pass these
# checks (a `$` that fails them is text):
# - it ends at the first unescaped `$`, never across a blank line, and that `$` is not
#   followed by a digit (`it costs $5 or $10` is two amounts);
# - with a space just inside a delimiter (`$ V_D^{\pi}(s) = ... $`), the body must show TeX:
#   a command, `^`, `_` or a brace; or an `=` or a single word, unless it starts with a
#   digit (`$ 5 $`, `$5 and $` stay text).

SegmentKind = Literal["text", "inline", "display"]


@dataclass(frozen=True, slots=True)
class MathSegment:
    """A piece of prose: plain text, or a math expression with its delimiters removed."""

    kind: SegmentKind
    content: str
    source: str  # the exact source text of this segment, delimiters included


_BLANK_LINE: Final = re.compile(r"\n[ \t]*\n")
# What marks a spaced `$ ... $` body as TeX for certain, and what does unless it is an amount.
_TEX_EVIDENCE: Final = re.compile(r"\\[A-Za-z]|[\^_{}]")
_WEAK_TEX_EVIDENCE: Final = re.compile(r"=|^[^\s]*[^\W\d_][^\s]*$")


def _find_display_end(text: str, start: int) -> int:
    """Index of the closing `$$` for display math whose body starts at `start`, or -1."""
    index = start
    while True:
        index = text.find("$$", index)
        if index < 0:
            return -1
        if index > 0 and text[index - 1] == "\\" and not _is_escaped_backslash(text, index - 1):
            index += 1
            continue
        return index


def _is_escaped_backslash(text: str, index: int) -> bool:
    """Whether the backslash at `index` is itself escaped (preceded by an odd number)."""
    count = 0
    while index - 1 - count >= 0 and text[index - 1 - count] == "\\":
        count += 1
    return count % 2 == 1


def _find_inline_end(text: str, start: int) -> int:
    """The first unescaped `$` from `start`, unless a blank line comes first: -1 then."""
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "\n":
            line_end = text.find("\n", index + 1)
            next_line = text[index + 1 :] if line_end < 0 else text[index + 1 : line_end]
            if not next_line.strip():
                return -1  # inline math never spans a blank line
        if char == "$":
            return index
        index += 1
    return -1


def _is_inline_body(body: str) -> bool:
    """Whether the text between two `$` is math rather than prose between two amounts."""
    core = body.strip()
    if not core:
        return False
    if core == body:
        return True  # `$x$`: nothing but math hugs the delimiters
    if _TEX_EVIDENCE.search(core):
        return True
    return not core[0].isdigit() and bool(_WEAK_TEX_EVIDENCE.search(core))


def _match_dollar_at(text: str, index: int) -> tuple[MathSegment, int] | None:
    if text.startswith("$$", index):
        end = _find_display_end(text, index + 2)
        if end < 0:
            return None
        body = text[index + 2 : end]
        if not body.strip():
            return None
        return MathSegment("display", body, text[index : end + 2]), end + 2
    end = _find_inline_end(text, index + 1)
    if end < 0 or text[end + 1 : end + 2].isdigit():
        return None  # `$5 and $10`: the `$` that would close is an amount's
    body = text[index + 1 : end]
    if not _is_inline_body(body):
        return None
    return MathSegment("inline", body, text[index : end + 1]), end + 1


DISPLAY_ENVIRONMENTS: Final = _words(
    """
    equation equation* align align* gather gather* multline multline* eqnarray eqnarray*
    flalign flalign* alignat alignat* displaymath split aligned gathered cases matrix
    pmatrix bmatrix Bmatrix vmatrix Vmatrix
    """
)
_ENVIRONMENT_START: Final = re.compile(r"\\begin\{([A-Za-z]+\*?)\}")
# `\[3\]` in Markdown is an escaped citation, not math: bracketed math has some TeX in it.
_LOOKS_LIKE_TEX: Final = re.compile(r"[\\^_={]")


def _find_closing(text: str, closing: str, start: int) -> int:
    """The first `closing` (`\\]`, `\\)`) from `start` whose backslash is not escaped."""
    end = text.find(closing, start)
    while end >= 0 and _is_escaped_backslash(text, end):
        end = text.find(closing, end + 1)
    return end


def _match_backslash_at(text: str, index: int) -> tuple[MathSegment, int] | None:
    if text.startswith("\\(", index):
        end = _find_closing(text, "\\)", index + 2)
        if end < 0:
            return None
        body = text[index + 2 : end]
        if not body.strip() or _BLANK_LINE.search(body):
            return None
        return MathSegment("inline", body, text[index : end + 2]), end + 2
    if text.startswith("\\[", index):
        end = _find_closing(text, "\\]", index + 2)
        if end < 0:
            return None
        body = text[index + 2 : end]
        if not body.strip() or not _LOOKS_LIKE_TEX.search(body):
            return None
        return MathSegment("display", body, text[index : end + 2]), end + 2
    start = _ENVIRONMENT_START.match(text, index)
    if start is None or start.group(1) not in DISPLAY_ENVIRONMENTS:
        return None
    name = start.group(1)
    closing = f"\\end{{{name}}}"
    # Nested environments of the same name are matched by counting.
    depth, position = 1, start.end()
    opening = start.group(0)
    while depth:
        next_close = text.find(closing, position)
        if next_close < 0:
            return None
        next_open = text.find(opening, position, next_close)
        if next_open >= 0:
            depth, position = depth + 1, next_open + len(opening)
        else:
            depth, position = depth - 1, next_close + len(closing)
    whole = text[index:position]
    return MathSegment("display", whole, whole), position


def match_math_at(text: str, index: int) -> tuple[MathSegment, int] | None:
    """Math starting at `text[index]` (a `$` or a backslash): the segment (its delimiters
    removed; a display environment kept whole) and the index after it, or None.

    The one place that decides what is math: `/summary view`, excerpts, abstracts, titles
    and announcements all find formulas through it (see the rules above)."""
    if text.startswith("$", index):
        return _match_dollar_at(text, index)
    if text.startswith("\\", index):
        return _match_backslash_at(text, index)
    return None


_DOLLAR_OR_BACKSLASH: Final = re.compile(r"[\\$]")


def iter_math_segments(text: str) -> Iterator[MathSegment]:
    """Split prose into text and math segments; joining every `source` gives `text` back.

    `\\$` is an escaped dollar and never opens math.
    """
    plain_start = 0
    index = 0
    while (found := _DOLLAR_OR_BACKSLASH.search(text, index)) is not None:
        index = found.start()
        math = match_math_at(text, index)
        if math is None:
            # A backslash escapes what follows it; a `$$` that opens nothing is skipped whole.
            index += 2 if text[index] == "\\" or text.startswith("$$", index) else 1
            continue
        segment, after = math
        if index > plain_start:
            plain = text[plain_start:index]
            yield MathSegment("text", plain, plain)
        yield segment
        index = plain_start = after
    if plain_start < len(text):
        plain = text[plain_start:]
        yield MathSegment("text", plain, plain)


def convert_math_in_text(text: str, *, marks: bool = False) -> str:
    """Replace every formula in plain prose (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`)
    with its Unicode rendering.

    Display math is put on its own line. With `marks`, each formula is marked as a unit the
    page breaker keeps whole (`bot.rendering.units`). No Markdown awareness: use
    `bot.rendering.markdown.render_summary` for Markdown documents (it protects code).
    """
    output: list[str] = []
    needs_line_break = False  # the previous segment was display math
    for segment in iter_math_segments(text):
        if segment.kind == "display":
            rendered = latex_to_unicode(segment.content, display=True)
            if output and not output[-1].endswith("\n"):
                output[-1] = output[-1].rstrip(" \t")
                output.append("\n")
            output.append(unit(rendered) if marks else rendered)
            needs_line_break = True
            continue
        content = segment.content
        if segment.kind == "inline":
            content = latex_to_unicode(content)
            content = unit(content) if marks else content
        if needs_line_break:
            content = content.lstrip(" \t")
            if content and not content.startswith("\n"):
                output.append("\n")
            needs_line_break = False
        output.append(content)
    joined = "".join(output)
    return re.sub(r"\n\n\n+", "\n\n", joined)
