"""The forms and controls of the community commands, answered by whichever bot process
receives them (`bot.ui`; the vote buttons are in `bot.community.buttons`).

What their custom_ids carry:

- the summary form: `ss:form:new` (everything is in the form) or `ss:form:<state>`, the
  draft it continues (`bot.community.drafts`: a file's body, the preview being edited, the
  summary an edit changes);
- the steps of a draft: `ss:draft:<state>:publish|edit|cancel|pick` and
  `ss:draft:<state>:<page>:prev|next` (the preview's pages);
- `/mysummaries`: `ss:mine:<page>:prev|next`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import discord

from bot.community.resolve import MAX_PAPER_INPUT
from bot.community.service import BODY_LIMIT, TLDR_LIMIT, Draft
from bot.community.title_search import OptionKind, PaperOption
from bot.errors import UserFacingError
from bot.storage.interactions import STATE_ID_PATTERN
from bot.ui import Control, Controls, StaticModal, control_button, selected_values

if TYPE_CHECKING:
    from cogs.community.summaries import CommunityCog

COMMUNITY_COG_NAME: Final = "Community"
OPTION_EMOJI: dict[OptionKind, str] = {"known": "📚", "arxiv": "📄", "new": "➕"}
PRIMARY: Final = discord.ButtonStyle.primary

DraftAction = Literal["publish", "edit", "cancel", "pick", "prev", "next"]

FORM_TEMPLATE: Final = rf"ss:form:(?P<state>new|{STATE_ID_PATTERN})"
DRAFT_TEMPLATE: Final = (
    rf"ss:draft:(?P<state>{STATE_ID_PATTERN}):"
    r"(?:(?P<page>[0-9]{1,5}):(?P<direction>prev|next)|(?P<action>publish|edit|cancel|pick))"
)
MINE_TEMPLATE: Final = r"ss:mine:(?P<page>[0-9]{1,5}):(?P<direction>prev|next)"


def _community(interaction: discord.Interaction) -> CommunityCog:
    cog = interaction.client.get_cog(COMMUNITY_COG_NAME)  # type: ignore[attr-defined]
    if cog is None:
        raise UserFacingError("Community summaries are not available right now; try again soon.")
    return cast("CommunityCog", cog)


def summary_form(
    state_id: str | None,
    draft: Draft,
    *,
    title: str = "Summarize a paper",
    ask_paper: bool = True,
    ask_body: bool = True,
) -> StaticModal:
    """Paper, TL;DR and summary (without the paper for an edit, without the summary when it
    comes from a file), filled in with `draft`; `state_id` is the draft it continues."""
    form = StaticModal(title=title, custom_id=f"ss:form:{state_id or 'new'}", timeout=None)
    if ask_paper:
        form.add_item(
            discord.ui.TextInput(
                label="Paper",
                placeholder="arXiv id or link, DOI, ShortScience link or bibtex key, or title",
                default=draft.paper[:MAX_PAPER_INPUT] or None,
                max_length=MAX_PAPER_INPUT,
                custom_id="paper",
            )
        )
    form.add_item(
        discord.ui.TextInput(
            label="TL;DR (one paragraph)",
            style=discord.TextStyle.short,
            placeholder="What the paper does and why it matters, in a few sentences",
            default=draft.tldr[:TLDR_LIMIT] or None,
            max_length=TLDR_LIMIT,
            custom_id="tldr",
        )
    )
    if ask_body:
        form.add_item(
            discord.ui.TextInput(
                label="Summary (Markdown, $LaTeX$ welcome)",
                style=discord.TextStyle.paragraph,
                placeholder="Longer than 4,000 characters? Use /summarize with a .md file.",
                default=draft.body[:BODY_LIMIT] or None,
                max_length=BODY_LIMIT,
                custom_id="body",
            )
        )
    return form


def edit_cancel_buttons(state_id: str, *, row: int) -> list[discord.ui.Button[Any]]:
    return [
        control_button("Edit", f"ss:draft:{state_id}:edit", style=PRIMARY, row=row),
        control_button("Cancel", f"ss:draft:{state_id}:cancel", row=row),
    ]


def page_buttons(prefix: str, *, page: int, pages: int) -> list[discord.ui.Button[Any]]:
    """◀ Prev / Next ▶ over `pages` (none for one page); each custom_id names its page."""
    if pages <= 1:
        return []
    return [
        control_button("◀ Prev", f"{prefix}:{max(page - 1, 0)}:prev", row=0, disabled=page == 0),
        control_button(
            "Next ▶",
            f"{prefix}:{min(page + 1, pages - 1)}:next",
            row=0,
            disabled=page >= pages - 1,
        ),
    ]


def preview_controls(state_id: str, *, page: int, pages: int, publish_label: str) -> Controls:
    """The preview's: its pages, then Publish (or Save changes), Edit and Cancel."""
    return Controls(
        *page_buttons(f"ss:draft:{state_id}", page=page, pages=pages),
        control_button(
            publish_label, f"ss:draft:{state_id}:publish", style=discord.ButtonStyle.success, row=1
        ),
        *edit_cancel_buttons(state_id, row=1),
    )


def paper_menu(
    custom_id: str, options: Sequence[PaperOption], *, row: int | None = None
) -> discord.ui.Select[Any]:
    """The menu of the papers a typed title may mean (`paper_options`), each marked as the
    question above it says: 📚 known here, 📄 on arXiv, ➕ a new paper."""
    return discord.ui.Select(
        placeholder="Which paper do you mean?",
        custom_id=custom_id,
        options=[
            discord.SelectOption(
                label=option.label,
                value=option.value,
                description=option.description or None,
                emoji=OPTION_EMOJI[option.kind],
            )
            for option in options
        ],
        row=row,
    )


def picker_controls(state_id: str, options: Sequence[PaperOption]) -> Controls:
    """Which paper a typed title means: known papers, arXiv's, a new one; Edit; Cancel."""
    menu = paper_menu(f"ss:draft:{state_id}:pick", options, row=0)
    return Controls(menu, *edit_cancel_buttons(state_id, row=1))


def retry_controls(state_id: str) -> Controls:
    """After a problem, or once a step expired: the form again, with the member's text."""
    return Controls(
        control_button("Edit and try again", f"ss:draft:{state_id}:edit", style=PRIMARY, row=0)
    )


def mine_controls(*, page: int, pages: int) -> Controls:
    return Controls(*page_buttons("ss:mine", page=page, pages=pages))


class DraftControl(Control, template=DRAFT_TEMPLATE):
    """Publish, Edit, Cancel, the pages of a preview and the paper picker."""

    async def handle(self, interaction: discord.Interaction) -> None:
        action = cast(DraftAction, self.match["action"] or self.match["direction"])
        page = int(self.match["page"] or 0)
        choice = selected_values(interaction)[0] if action == "pick" else None
        await _community(interaction).draft_action(
            interaction, self.match["state"], action, page=page, choice=choice
        )


class MineControl(Control, template=MINE_TEMPLATE):
    """The pages of `/mysummaries`."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await _community(interaction).turn_mine(interaction, int(self.match["page"]))


CONTROLS: Final = (DraftControl, MineControl)
