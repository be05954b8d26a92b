-- Which papers a server sees (bot/storage/papers.py, PAPER_VISIBLE_TO_GUILD) asks whether a
-- paper has a reading session in the server, open or closed: index that question.
CREATE INDEX reading_sessions_paper_guild ON reading_sessions (paper_id, guild_id);
