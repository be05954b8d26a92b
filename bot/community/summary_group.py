"""The `/summary` command group, shared by the cogs that add sub-commands to it.

Discord cannot have both `/summary` and `/summary edit`, so reading a summary is
`/summary view`, next to `edit`, `delete` and `restore`. Whichever cog loads first creates
the group on the tree; each cog adds its own sub-commands in `cog_load` and removes them in
`cog_unload` with `remove_summary_subcommands` (the group goes when it is empty).
"""

from __future__ import annotations

from discord import app_commands

GROUP_NAME = "summary"
GROUP_DESCRIPTION = "Read, edit, delete or restore a summary"


def get_or_create_summary_group(tree: app_commands.CommandTree) -> app_commands.Group:
    existing = tree.get_command(GROUP_NAME)
    if isinstance(existing, app_commands.Group):
        return existing
    if existing is not None:
        raise RuntimeError(
            f"/{GROUP_NAME} is already a plain command; sub-commands need it to be a group"
        )
    group = app_commands.Group(name=GROUP_NAME, description=GROUP_DESCRIPTION)
    tree.add_command(group)
    return group


def add_summary_subcommands(
    tree: app_commands.CommandTree, *commands: app_commands.Command
) -> app_commands.Group:
    group = get_or_create_summary_group(tree)
    for command in commands:
        group.add_command(command, override=True)
    return group


def remove_summary_subcommands(tree: app_commands.CommandTree, *names: str) -> None:
    group = tree.get_command(GROUP_NAME)
    if not isinstance(group, app_commands.Group):
        return
    for name in names:
        group.remove_command(name)
    if not group.commands:
        tree.remove_command(GROUP_NAME)
