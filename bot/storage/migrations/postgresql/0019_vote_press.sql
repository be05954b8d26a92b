-- Vote button presses applied in one statement (`CommunityRepository.press_votes`): each
-- member's vote is read and changed, and the summary's new score returned, inside the server.
-- Run on its own, the statement is its transaction: one round trip and one commit for a whole
-- batch of presses, and a summary's row (which the score trigger updates) stays locked only
-- while the server works, not across round trips to the bot. So 200 members pressing on one
-- summary at once do not queue, one commit each, behind each other's row lock. What a press
-- means stays the bot's: it passes the new vote for each possible current one
-- (`bot.community.votes.press`). SQLite runs the same steps in one in-process transaction
-- (its twin migration is empty).
CREATE FUNCTION press_summary_votes(
    p_summary_ids bigint[],
    p_voter_ids bigint[],
    p_if_none integer[],
    p_if_up integer[],
    p_if_down integer[],
    p_now double precision
) RETURNS TABLE (ordinal integer, previous_value integer, new_value integer, new_score bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_summary bigint;
    v_previous integer;
    v_new integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_summary_ids, 1), 0) LOOP
        v_summary := p_summary_ids[i];
        -- The summary's row stays locked to the end of the transaction: presses on one
        -- summary take turns, a member's second press reading the vote the first left. The
        -- caller orders the presses by summary, so batches running at once lock the rows in
        -- the same order and never deadlock.
        PERFORM 1 FROM summaries AS s WHERE s.id = v_summary FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            CONTINUE;  -- no row for this press: the summary is gone
        END IF;
        SELECT v.value INTO v_previous FROM summary_votes AS v
            WHERE v.summary_id = v_summary AND v.voter_id = p_voter_ids[i];
        v_previous := coalesce(v_previous, 0);
        v_new := CASE v_previous
            WHEN 1 THEN p_if_up[i] WHEN -1 THEN p_if_down[i] ELSE p_if_none[i] END;
        IF v_new = 0 THEN
            DELETE FROM summary_votes AS v
                WHERE v.summary_id = v_summary AND v.voter_id = p_voter_ids[i];
        ELSE
            INSERT INTO summary_votes AS v (summary_id, voter_id, value, voted_at)
                VALUES (v_summary, p_voter_ids[i], v_new, p_now)
                ON CONFLICT (summary_id, voter_id)
                DO UPDATE SET value = excluded.value, voted_at = excluded.voted_at;
        END IF;
        ordinal := i;
        previous_value := v_previous;
        new_value := v_new;
        SELECT s.score INTO new_score FROM summaries AS s WHERE s.id = v_summary;
        RETURN NEXT;
    END LOOP;
END;
$$;
