"""Display math as images: formulas typeset in worker processes, stacked on PNG cards.

- `screen`: cheap checks before any typesetting (length, nesting, forbidden macros, sizes).
- `engine`, `worker`: typesetting (ziamath) and rasterising (resvg), run as jobs in worker
  processes (`bot.workers`), each job bounded in time and memory.
- `wrap`: breaking a formula too wide for the card into lines.
- `layout`: stacking a page's equations and their numbers on a card (pure SVG geometry).
- `cache`: the bounded disk cache; `service`: the `Typesetter` the bot uses.
"""

from bot.typeset.layout import Drawing
from bot.typeset.service import Typesetter, png_size
from bot.typeset.style import DEFAULT_STYLE, MathStyle

__all__ = ["DEFAULT_STYLE", "Drawing", "MathStyle", "Typesetter", "png_size"]
