"""How equation images look: sizes and colours, shared by the bot and its typesetting workers.

Discord shows an embed's image inside a 400 × 300 box (CSS pixels) and scales larger images
down to fit. Cards are drawn at two device pixels per CSS pixel, always 800 pixels wide, so
Discord shows every card across the whole embed at exactly half size: crisp on high-density
screens, and the glyphs at `font_px / 2` = 16 CSS pixels, the size of Discord's message text
(STIX Two Math's small x-height makes 16px read like Discord's 14px embed text). A card
taller than 600 pixels is shrunk by Discord; pages are planned so that never goes below
`min_page_scale`, and a formula is never scaled below `min_scale`.

Colours: near-black ink on a white card with a light border and rounded corners reads the
same on Discord's dark and light themes; equation numbers are a softer grey.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Final

# Bump when the worker's output for the same formula and style changes (cache keys use it).
ENGINE_VERSION: Final = "1"


@dataclass(frozen=True, slots=True)
class MathStyle:
    """Every number that decides how an equation card looks (all sizes in device pixels)."""

    font_px: float = 32.0
    width: int = 800
    padding: float = 26.0
    gap: float = 24.0
    radius: float = 18.0
    border_px: float = 2.0
    number_gap: float = 28.0
    # Room kept at the right for labels up to "(99)", in em.
    number_column_em: float = 2.4
    ink: str = "#1e1f22"
    number_ink: str = "#6d6f78"
    card: str = "#ffffff"
    border: str = "#d5d8dd"
    # A formula may be scaled down to fit the card, not below this.
    min_scale: float = 0.7
    # Discord shows at most 600 device pixels of height unshrunk; a page's card may be taller
    # as long as Discord's shrinking keeps at least this much of the glyph size.
    display_height: int = 600
    min_page_scale: float = 0.8

    @property
    def number_column(self) -> float:
        return self.number_column_em * self.font_px

    @property
    def equation_room(self) -> float:
        """The widest a formula may be drawn: the card less padding and the number column."""
        return self.width - 2 * self.padding - self.number_column - self.number_gap

    @property
    def max_card_height(self) -> int:
        return int(self.display_height / self.min_page_scale)

    @property
    def max_equation_height(self) -> float:
        return self.max_card_height - 2 * self.padding

    def key(self) -> str:
        """A short, stable digest of the style and engine version, for cache keys."""
        encoded = json.dumps({"engine": ENGINE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(encoded.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> MathStyle:
        return cls(**data)  # type: ignore[arg-type]


DEFAULT_STYLE: Final = MathStyle()
