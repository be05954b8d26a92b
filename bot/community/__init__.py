"""Community summaries: writing, paper look-ups on arXiv, votes, reading sessions, export.

Discord-facing code lives in `cogs/community.py` and `cogs/reading.py`; this package holds
the logic they call, so it can be tested (and used by the CLI) without Discord.
"""
