"""shortscience-bot: ShortScience.org paper summaries for Discord reading groups."""

__version__ = "0.1.0"
