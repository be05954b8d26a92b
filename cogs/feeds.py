"""`/feed ...` and `/announce channel`: subscribe channels to feeds, and the loops behind them.

The poller (a background loop) starts due feed polls; the sender (another loop) drains
the outbox, and a third prunes delivered rows. They start in `cog_load` when the bot runs
background tasks, and stop in `cog_unload`. Every command here needs Manage Server: hidden
from others by default permissions, and checked again when run (a server may override the
defaults).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.announce.community import ANNOUNCEMENT_ENQUEUED
from bot.announce.components import RESUME_TEMPLATE, resume_button
from bot.announce.filters import MAX_FILTER_LENGTH, KeywordFilter, describe_terms
from bot.announce.messages import summary_message
from bot.announce.poller import FeedPoller, FetchLimits, PollOutcome
from bot.announce.schedule import first_poll_delay
from bot.announce.sender import OutboxSender
from bot.announce.threads import DiscordThreads, thread_name
from bot.background import BackgroundLoop
from bot.bot import ShortScienceBot
from bot.errors import UserFacingError, logged_autocomplete, report_interaction_error
from bot.feeds import DiscoveredFeed, FeedEntry, FetchResult, ParsedFeed
from bot.ingest import ingest_entries
from bot.jobs import SharedJob
from bot.net import is_ip_literal, is_valid_host_name
from bot.rendering import escape_markdown, shorten, split_pages
from bot.rendering.text import plural
from bot.storage.feeds import (
    AlreadySubscribedError,
    CommunityAnnounceRepository,
    Delivery,
    Feed,
    GuildFeedLimitError,
    Subscription,
    SubscriptionRepository,
    SubscriptionWithFeed,
)
from bot.storage.interactions import STATE_ID_PATTERN, InteractionStateRepository
from bot.storage.leases import DEFAULT_LEASE_SECONDS
from bot.storage.outbox import OutboxRepository
from bot.ui import Control, Controls, ControlTimers, selected_values, take_choice

log = logging.getLogger(__name__)

FEEDS_COG_NAME = "FeedsCog"
MANAGE_SERVER = discord.Permissions(manage_guild=True)
# The sender also looks at the outbox this often, for rows other code enqueued silently.
SENDER_IDLE_SECONDS = 5.0
MAX_POLL_TICK_SECONDS = 10.0
PRUNE_SECONDS = 3600.0
# Who polled which feed (feed_poll_log) is kept a day.
POLL_LOG_KEEP_SECONDS = 24 * 3600.0
POLLER_LOOP = "feed poller"
SENDER_LOOP = "announcement sender"
PRUNING_LOOP = "outbox pruning"
MAX_URL_LENGTH = 2000
# The option itself takes as much as Discord allows, so a longer address gets a clear
# answer from the bot rather than a silent refusal from the client.
MAX_URL_OPTION_LENGTH = 6000
# How much of an address replies quote: enough to recognise it, short enough to always fit.
SHOWN_URL_LENGTH = 200
LIST_PAGE_CHARS = 3900
# The feeds a web page links to, offered after `/feed add`: kept (as an interaction state,
# so any bot process takes the choice) this long.
FEED_CHOICE_KIND = "feed_choice"
FEED_CHOICE_SECONDS = 300.0
FEED_CHOICE_TEMPLATE = rf"ss:feedpick:(?P<state>{STATE_ID_PATTERN})"


def poll_tick_seconds(poll_seconds: float, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> float:
    """How often the poller looks for due feeds: often enough for a feed's own schedule,
    and to renew the leases of its polls in time (a third of a lease)."""
    return min(max(poll_seconds / 4, 0.25), MAX_POLL_TICK_SECONDS, lease_seconds / 3)


def shown_url(url: str) -> str:
    """An address as replies quote it (in `<...>`, so Discord shows no preview)."""
    return shorten(url, SHOWN_URL_LENGTH)


def normalise_feed_url(text: str) -> str:
    """An http(s) URL from what was typed (`arxiv.org/rss/cs.LG` gets `https://`); anything
    that cannot be a web address is refused with one clear sentence, before any fetch."""
    typed = text.strip()
    text = typed.strip("<>")
    if len(text) > MAX_URL_LENGTH:
        raise UserFacingError(
            f"That address is {len(text):,} characters long; a feed address may have at most "
            f"{MAX_URL_LENGTH:,} characters."
        )
    scheme_typed = "://" in text
    if not scheme_typed:
        text = "https://" + text
    quoted = escape_markdown(shorten(typed, SHOWN_URL_LENGTH), line_start=False)
    not_an_address = UserFacingError(
        f"“{quoted}” is not a web address: give the feed's URL, such as "
        "`https://www.shortscience.org/rss.xml`."
    )
    if any(character.isspace() for character in text):
        raise not_an_address
    try:
        url = yarl.URL(text)
        host = url.raw_host or ""
    except (ValueError, UnicodeError) as exc:
        raise not_an_address from exc
    if url.scheme not in {"http", "https"}:
        raise UserFacingError("A feed address starts with http:// or https:// and names a host.")
    if not host:
        raise not_an_address
    if not is_valid_host_name(host):
        raise UserFacingError(
            f"“{quoted}” has no valid host name, so it is not a web address: give the feed's "
            "URL, such as `https://www.shortscience.org/rss.xml`."
        )
    # Without a scheme, a word without a dot is not taken for a host ("hello").
    if not scheme_typed and "." not in host.rstrip(".") and not is_ip_literal(host):
        raise not_an_address
    return str(url)


def newest_entry(entries: list[FeedEntry]) -> FeedEntry:
    """The newest entry: by date when the feed gives dates, else the first one listed."""
    dated = [entry for entry in entries if entry.date is not None]
    if dated:
        return max(dated, key=lambda entry: entry.date)  # type: ignore[arg-type, return-value]
    return entries[0]


def relative_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return discord.utils.format_dt(datetime.fromtimestamp(timestamp, tz=UTC), "R")


def subscription_status(subscription: Subscription, feed: Feed) -> str:
    if subscription.disabled_reason:
        return f"⛔ disabled: {subscription.disabled_reason}"
    if feed.paused_reason:
        return f"⏸️ paused by the bot: {feed.paused_reason}"
    if subscription.paused:
        return "⏸️ paused"
    if feed.consecutive_failures:
        return f"⚠️ failing ({plural(feed.consecutive_failures, 'poll')} in a row)"
    if not feed.initialized:
        return "⏳ waiting for its first poll"
    return "✅ active"


def describe_subscription(item: SubscriptionWithFeed) -> str:
    """One `/feed list` entry."""
    subscription, feed = item.subscription, item.feed
    name = escape_markdown(shorten(feed.display_name, 80))
    lines = [
        f"**#{subscription.id}** [{name}]({feed.url}) → <#{subscription.channel_id}>",
        subscription_status(subscription, feed),
    ]
    timing = f"last success {relative_time(feed.last_success_at)}"
    if feed.paused_reason is None and subscription.delivers:
        timing += f" · next poll {relative_time(feed.next_poll_at)}"
    lines.append(timing)
    if feed.last_error and (feed.consecutive_failures or feed.paused_reason):
        error = escape_markdown(shorten(feed.last_error, 150))
        lines.append(f"last error {relative_time(feed.last_error_at)}: {error}")
    keywords = KeywordFilter.parse(subscription.include_terms, subscription.exclude_terms)
    extras = []
    if keywords.include:
        extras.append(f"include `{describe_terms(keywords.include)}`")
    if keywords.exclude:
        extras.append(f"exclude `{describe_terms(keywords.exclude)}`")
    if subscription.mention_role_id:
        extras.append(f"mentions <@&{subscription.mention_role_id}>")
    if subscription.delivery == "thread":
        extras.append("a discussion thread under each announcement")
    elif subscription.delivery == "forum":
        extras.append("a forum post for each entry")
    if extras:
        lines.append(" · ".join(extras))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What `/feed add` asked for, kept while the invoker picks among discovered feeds."""

    guild_id: int
    channel_id: int
    user_id: int
    include: str
    exclude: str
    mention_role_id: int | None
    delivery: Delivery = "message"


class AnnounceTarget(app_commands.Transformer):
    """Where `/feed add` may announce: a text or announcement channel, or a forum. Not a
    media channel (discord.py's ForumChannel covers both): its posts need a file."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.forum]

    async def transform(
        self, interaction: discord.Interaction, value: object, /
    ) -> discord.TextChannel | discord.ForumChannel:
        resolved = getattr(value, "resolve", lambda: None)()
        if isinstance(resolved, discord.TextChannel | discord.ForumChannel):
            return resolved
        raise UserFacingError("I can't see that channel: check that I may view it, then retry.")


def delivery_for(target: object, *, thread: bool) -> Delivery:
    """How announcements reach `target` (the channel given, or the one the command was run
    in): a post per entry in a forum; a message, with a discussion thread under it when
    `thread` is asked for. A thread cannot hold threads."""
    if isinstance(target, discord.ForumChannel):
        return "forum"
    if not thread:
        return "message"
    if isinstance(target, discord.Thread):
        raise UserFacingError(
            "A thread cannot have threads of its own: give `channel:` a text channel (or a "
            "forum) for `thread:true`."
        )
    return "thread"


# What the bot needs in the channel for each way of announcing, beyond sending messages.
NEEDED_PERMISSIONS: dict[Delivery, tuple[tuple[str, str], ...]] = {
    "message": (),
    "thread": (
        ("send_messages", "Send Messages"),
        ("create_public_threads", "Create Public Threads"),
    ),
    "forum": (("send_messages", "Create Posts"),),
}


def missing_permissions(target: object, me: discord.Member | None, delivery: Delivery) -> list[str]:
    """The permissions the bot lacks in `target` to announce there as `delivery` says (none
    known when the bot's member or the channel is not cached)."""
    if me is None or not isinstance(target, discord.abc.GuildChannel):
        return []
    granted = target.permissions_for(me)
    return [label for name, label in NEEDED_PERMISSIONS[delivery] if not getattr(granted, name)]


def discovered_feeds_menu(state_id: str, feeds: list[DiscoveredFeed]) -> Controls:
    """The feeds an HTML page advertises, offered to the person who ran `/feed add`."""
    menu: discord.ui.Select[Any] = discord.ui.Select(
        placeholder="Choose a feed to subscribe to",
        custom_id=f"ss:feedpick:{state_id}",
        options=[
            discord.SelectOption(
                label=shorten(feed.title or feed.url, 100),
                value=str(index),
                description=shorten(feed.url, 100),
            )
            for index, feed in enumerate(feeds)
        ],
    )
    return Controls(menu)


class FeedChoiceControl(Control, template=FEED_CHOICE_TEMPLATE):
    """The menu of discovered feeds, answered by whichever process receives the choice."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await _feeds(interaction).feed_chosen(
            interaction, self.match["state"], int(selected_values(interaction)[0])
        )


def _feeds(interaction: discord.Interaction) -> FeedsCog:
    cog = interaction.client.get_cog(FEEDS_COG_NAME)  # type: ignore[attr-defined]
    if cog is None:
        raise UserFacingError("Feeds are not available right now; try again soon.")
    return cast(FeedsCog, cog)


class ResumeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=RESUME_TEMPLATE):
    """**Resume feed** under a paused-feed notice: `/feed resume` for members with Manage
    Server (anyone else is told so, privately)."""

    def __init__(self, subscription_id: int, marker: str | None = None) -> None:
        super().__init__(resume_button(subscription_id, marker))
        self.subscription_id = subscription_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResumeButton:
        return cls(int(match["subscription_id"]), match["marker"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            feeds = _feeds(interaction)
            await feeds.interaction_check(interaction)  # the same rule as the commands'
            await feeds.resume(interaction, self.subscription_id)
        except Exception as exc:  # the dynamic view's own handler would only log it
            await report_interaction_error(interaction, exc)


class FeedsCog(commands.Cog, name=FEEDS_COG_NAME):
    """Feed subscriptions, the poller and the announcement sender."""

    feed = app_commands.Group(
        name="feed",
        description="Announce new summaries from RSS or Atom feeds in this server",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )
    announce = app_commands.Group(
        name="announce",
        description="Where this server's announcements go",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.subscriptions = SubscriptionRepository(bot.db)
        self.community_channels = CommunityAnnounceRepository(bot.db)
        self.outbox = OutboxRepository(bot.db)
        self.sender = OutboxSender(
            bot.db,
            lambda channel_id, guild_id: bot.get_partial_messageable(channel_id, guild_id=guild_id),
            own_user_id=lambda: bot.user.id if bot.user is not None else None,
            threads=DiscordThreads(bot),
            nonce_window=settings.discord_nonce_window_seconds,
            on_drained=lambda report: bot.metrics.record_sends(
                sent=report.sent, found=report.found, retried=report.retried, dropped=report.dropped
            ),
            sends_per_second=settings.outbox_sends_per_second,
            owner=bot.lease_owner,
            lease_seconds=settings.lease_seconds,
        )
        self.poller = FeedPoller(
            bot.db,
            bot.http_session,
            poll_seconds=settings.feed_poll_seconds,
            concurrency=settings.feed_concurrency,
            guild_concurrency=settings.feed_guild_concurrency,
            max_failures=settings.feed_max_failures,
            limits=FetchLimits(max_bytes=settings.feed_max_bytes),
            workers=bot.feed_workers,
            on_enqueued=self.sender.notify,
            on_polled=lambda outcome, seconds: bot.metrics.record_poll(outcome.status, seconds),
            owner=bot.lease_owner,
            lease_seconds=settings.lease_seconds,
            on_capacity=self._poll_more,
            share=lambda: bot.registry.share_of(bot.process_id, time.time()),
        )
        self.feeds = self.poller.feeds
        self.states = InteractionStateRepository(bot.db)
        self.timers = ControlTimers()
        self.loops: list[BackgroundLoop] = []
        # Forgetting delivered announcements and old poll log rows: once an hour, by one of
        # the processes sharing the database.
        self.pruning = SharedJob(
            bot.db,
            PRUNING_LOOP,
            self.prune,
            owner=bot.lease_owner,
            every=PRUNE_SECONDS,
            lease_seconds=settings.lease_seconds,
        )

    # --- lifecycle --------------------------------------------------------------------

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResumeButton, FeedChoiceControl)
        self.bot.metrics.leased_feeds = lambda: self.poller.feeds_leased
        if not self.bot.background_tasks:
            return
        ready = self.bot.wait_until_ready
        self.loops.append(
            self.bot.loops.start(
                BackgroundLoop(
                    POLLER_LOOP,
                    self.poller.start_due,
                    interval=poll_tick_seconds(
                        self.bot.settings.feed_poll_seconds, self.bot.settings.lease_seconds
                    ),
                    description="claims due feeds and starts their polls",
                    before_first_run=ready,
                )
            )
        )
        self.start_sender()
        self.loops.append(
            self.bot.loops.start(
                BackgroundLoop(
                    PRUNING_LOOP,
                    self.pruning.run_once,
                    interval=self.pruning.tick_seconds,
                    description="forgets delivered announcements after a week (one process)",
                )
            )
        )

    def start_sender(self) -> BackgroundLoop:
        """Start the loop that posts what waits in the outbox (tests that keep the other
        loops off start this one alone)."""
        loop = self.bot.loops.start(
            BackgroundLoop(
                SENDER_LOOP,
                # Rows enqueued by other processes, or whose lease a dead process left, are
                # found by looking again at least this often.
                lambda: self.sender.run_once(
                    min(SENDER_IDLE_SECONDS, self.bot.settings.lease_seconds)
                ),
                interval=0,  # run_once waits for work itself
                description="posts the announcements waiting in the outbox",
                before_first_run=self.bot.wait_until_ready,
            )
        )
        self.loops.append(loop)
        return loop

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResumeButton, FeedChoiceControl)
        self.timers.close()
        for loop in self.loops:
            await self.bot.loops.stop(loop)
        await self.poller.close()
        if self.bot.background_tasks:
            await self.sender.release()

    def _poll_more(self) -> None:
        """Polls ended: claim more due feeds now rather than at the poller's next tick."""
        loop = self.bot.loops.get(POLLER_LOOP)
        if loop is not None and loop.running:
            loop.run_soon()

    async def prune(self) -> None:
        """Forget delivered announcements after a week and the poll log after a day."""
        await self.sender.prune()
        await self.feeds.prune_poll_log(older_than=time.time() - POLL_LOG_KEEP_SECONDS)

    @commands.Cog.listener(f"on_{ANNOUNCEMENT_ENQUEUED}")
    async def on_announcement_enqueued(self) -> None:
        self.sender.notify()

    async def poll_now(self, *, all_feeds: bool = False) -> list[PollOutcome]:
        """Poll due feeds (every feed with `all_feeds`) now and wait until no poll is left
        running: for tests and operators. The sender is woken for whatever was enqueued."""
        await self.poller.wait_idle()
        if all_feeds:
            await self.feeds.make_all_due(time.time())
        outcomes = await self.poller.poll_due()
        await self.poller.wait_idle()
        self.sender.notify()
        return outcomes

    # --- checks -----------------------------------------------------------------------

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise UserFacingError("You need the Manage Server permission to manage feeds.")
        return True

    async def _subscription(
        self, interaction: discord.Interaction, number: int
    ) -> SubscriptionWithFeed:
        assert interaction.guild_id is not None
        item = await self.subscriptions.in_guild(interaction.guild_id, number)
        if item is None:
            raise UserFacingError(f"This server has no feed #{number}; `/feed list` shows them.")
        return item

    # --- /feed add --------------------------------------------------------------------

    async def fetch_and_parse(self, url: str) -> tuple[FetchResult, ParsedFeed]:
        """Fetch a URL once, as a poll would, and parse it; refuse what cannot be used."""
        result = await self.poller.fetch(url)
        if result.gone:
            raise UserFacingError(f"<{shown_url(url)}> is gone: the server answered 410 Gone.")
        if not result.ok:
            raise UserFacingError(f"I couldn't fetch <{shown_url(url)}>: {result.error_message}.")
        parsed = await self.poller.parse(result)
        return result, parsed

    async def subscribe(
        self, request: SubscriptionRequest, url: str, result: FetchResult, parsed: ParsedFeed
    ) -> str:
        """Store the subscription (and the feed, recording its entries as seen when it is new
        to the bot). Returns the confirmation to show."""
        now = time.time()
        url = result.permanent_redirect_url or url
        feed = await self.feeds.get_by_url(url)
        created = feed is None
        feed_id = (
            await self.feeds.create(
                url,
                title=parsed.title,
                site_url=parsed.link,
                now=now,
                next_poll_at=now + first_poll_delay(self.bot.settings.feed_poll_seconds),
            )
            if feed is None
            else feed.id
        )
        try:
            await self.subscriptions.add(
                feed_id=feed_id,
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                include_terms=request.include,
                exclude_terms=request.exclude,
                mention_role_id=request.mention_role_id,
                created_by=request.user_id,
                now=now,
                guild_limit=self.bot.settings.feeds_per_guild,
                delivery=request.delivery,
            )
        except (AlreadySubscribedError, GuildFeedLimitError) as exc:
            if created:
                await self.feeds.delete_if_unsubscribed(feed_id)
            if isinstance(exc, GuildFeedLimitError):
                raise self._limit_error() from exc
            raise UserFacingError(f"<#{request.channel_id}> already gets that feed.") from exc
        feed = await self.feeds.get(feed_id)
        assert feed is not None
        if feed.paused_reason is not None:
            # It answered just now: whatever paused it is over.
            await self.feeds.resume(feed.id, now=now)
            feed = await self.feeds.get(feed_id)
            assert feed is not None
        if not feed.initialized:
            await self.poller.initialize(feed, result, parsed)
        seen = await self.feeds.seen_count(feed.id)
        name = escape_markdown(parsed.title or feed.display_name)
        lines = [
            f"Subscribed <#{request.channel_id}> to **{name}** (<{shown_url(feed.url)}>).",
            (
                f"Its {plural(seen, 'current entry')} {'counts' if seen == 1 else 'count'} as "
                "seen; new ones"
                if seen
                else "It has no entries yet; new ones"
            )
            + f" will be announced there (checked every {self._interval_words()}).",
        ]
        keywords = KeywordFilter.parse(request.include, request.exclude)
        if keywords.include:
            lines.append(f"Only entries mentioning any of: `{describe_terms(keywords.include)}`.")
        if keywords.exclude:
            lines.append(
                f"Skipping entries mentioning any of: `{describe_terms(keywords.exclude)}`."
            )
        if request.mention_role_id:
            lines.append(f"Each announcement mentions <@&{request.mention_role_id}>.")
        if request.delivery == "thread":
            lines.append("Each announcement gets a discussion thread, named after the paper.")
        elif request.delivery == "forum":
            lines.append("Each new entry becomes a post in the forum, titled with the paper.")
        lines.append("`/feed test` posts its newest entry now to check the look.")
        return "\n".join(lines)

    def _interval_words(self) -> str:
        seconds = self.bot.settings.feed_poll_seconds
        return plural(seconds / 60, "minute") if seconds >= 60 else plural(seconds, "second")

    def _limit_error(self) -> UserFacingError:
        limit = self.bot.settings.feeds_per_guild
        return UserFacingError(
            f"This server already has {plural(limit, 'feed')}, the most it may have. "
            "Remove one with `/feed remove` first."
        )

    @feed.command(
        name="add", description="Announce new entries of an RSS or Atom feed in a channel"
    )
    @app_commands.describe(
        url="The feed's address (or a page that links to feeds)",
        channel="Where to announce: a text channel, or a forum for a post per entry "
        "(default: this channel)",
        include='Only announce entries with any of these words or "phrases"',
        exclude='Never announce entries with any of these words or "phrases"',
        mention_role="A role to mention with each announcement",
        thread="Open a discussion thread under each announcement, named after the paper",
    )
    async def feed_add(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, MAX_URL_OPTION_LENGTH],
        channel: app_commands.Transform[discord.TextChannel | discord.ForumChannel, AnnounceTarget]
        | None = None,
        include: app_commands.Range[str, 0, MAX_FILTER_LENGTH] | None = None,
        exclude: app_commands.Range[str, 0, MAX_FILTER_LENGTH] | None = None,
        mention_role: discord.Role | None = None,
        thread: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        address = normalise_feed_url(url)
        if mention_role is not None and mention_role.is_default():
            raise UserFacingError("Pick a role to mention; I never mention @everyone.")
        target = channel if channel is not None else interaction.channel
        delivery = delivery_for(target, thread=thread)
        me = interaction.guild.me if interaction.guild is not None else None
        missing = missing_permissions(target, me, delivery)
        if missing:
            raise UserFacingError(
                f"I can't announce in <#{getattr(target, 'id', 0)}> that way: I need the "
                f"{' and '.join(missing)} permission{'s' if len(missing) > 1 else ''} there."
            )
        if isinstance(target, discord.ForumChannel) and target.flags.require_tag:
            raise UserFacingError(
                f"<#{target.id}> requires a tag on every post, and I post without one: turn "
                "off *Require people to select tags when posting* in the forum's settings, "
                "or pick another channel."
            )
        if (
            await self.subscriptions.count_for_guild(interaction.guild_id)
            >= self.bot.settings.feeds_per_guild
        ):
            raise self._limit_error()
        request = SubscriptionRequest(
            guild_id=interaction.guild_id,
            channel_id=channel.id if channel is not None else interaction.channel_id or 0,
            user_id=interaction.user.id,
            include=include or "",
            exclude=exclude or "",
            mention_role_id=None if mention_role is None else mention_role.id,
            delivery=delivery,
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        result, parsed = await self.fetch_and_parse(address)
        if parsed.is_feed:
            text = await self.subscribe(request, address, result, parsed)
            await interaction.followup.send(text, ephemeral=True)
            return
        if parsed.discovered_feeds:
            await self.offer_feeds(interaction, address, request, parsed.discovered_feeds[:25])
            return
        reason = parsed.error or "it is not an RSS or Atom feed"
        raise UserFacingError(f"I can't subscribe to <{shown_url(address)}>: {reason}.")

    async def offer_feeds(
        self,
        interaction: discord.Interaction,
        address: str,
        request: SubscriptionRequest,
        feeds: list[DiscoveredFeed],
    ) -> None:
        """A web page, not a feed: the feeds it links to, to pick one (kept as a state)."""
        state = await self.states.create(
            FEED_CHOICE_KIND,
            owner_id=request.user_id,
            guild_id=request.guild_id,
            payload={
                "request": asdict(request),
                "feeds": [{"url": feed.url, "title": feed.title} for feed in feeds],
            },
            now=time.time(),
            lifetime=FEED_CHOICE_SECONDS,
        )
        message = await interaction.followup.send(
            f"<{shown_url(address)}> is a web page, not a feed, but it links to "
            f"{plural(len(feeds), 'feed')}. Pick one:",
            view=discovered_feeds_menu(state.id, feeds),
            ephemeral=True,
            wait=True,
        )
        self.timers.arm(message.id, FEED_CHOICE_SECONDS, lambda: message.edit(view=None))

    async def feed_chosen(
        self, interaction: discord.Interaction, state_id: str, index: int
    ) -> None:
        """The feed picked among those a page links to: checked, then subscribed."""
        state = await take_choice(
            interaction,
            self.states,
            state_id,
            kind=FEED_CHOICE_KIND,
            command="`/feed add`",
            taken="A feed was already chosen from this list.",
            offered=lambda state: 0 <= index < len(state.payload["feeds"]),
            # Manage Server, as for the commands.
            allowed=lambda: self.interaction_check(interaction),
        )
        if state is None:
            return
        feeds = state.payload["feeds"]
        if interaction.message is not None:
            self.timers.disarm(interaction.message.id)
        request = SubscriptionRequest(**state.payload["request"])
        url = feeds[index]["url"]
        await interaction.response.edit_message(content=f"Checking <{shown_url(url)}>…", view=None)
        try:
            result, parsed = await self.fetch_and_parse(url)
            if not parsed.is_feed:
                raise UserFacingError(f"<{shown_url(url)}> is not a feed either: {parsed.error}.")
            text = await self.subscribe(request, url, result, parsed)
        except UserFacingError as exc:
            await interaction.edit_original_response(content=exc.message)
            return
        await interaction.edit_original_response(content=text)

    # --- /feed list, remove, pause, resume, test ---------------------------------------

    @feed.command(name="list", description="This server's feeds, their channels and health")
    async def feed_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        items = await self.subscriptions.for_guild(interaction.guild_id)
        if not items:
            await interaction.response.send_message(
                "This server has no feeds yet. Add one with `/feed add url:...`.", ephemeral=True
            )
            return
        listing = "\n\n".join(describe_subscription(item) for item in items)
        pages = [page.strip() for page in split_pages(listing, LIST_PAGE_CHARS)]
        limit = self.bot.settings.feeds_per_guild
        embeds = [
            discord.Embed(
                title=f"Feeds ({len(items)} of {limit})" if number == 0 else None,
                description=page,
                colour=0x2B6CB0,
            )
            for number, page in enumerate(pages)
        ]
        await interaction.response.send_message(embed=embeds[0], ephemeral=True)
        for embed in embeds[1:]:
            await interaction.followup.send(embed=embed, ephemeral=True)

    @feed.command(name="remove", description="Stop announcing a feed in its channel")
    @app_commands.describe(feed="The feed (its number in /feed list)")
    async def feed_remove(self, interaction: discord.Interaction, feed: int) -> None:
        item = await self._subscription(interaction, feed)
        await self.subscriptions.remove(item.subscription.id)
        await interaction.response.send_message(
            f"Removed feed #{feed} (**{escape_markdown(item.feed.display_name)}**) "
            f"from <#{item.subscription.channel_id}>.",
            ephemeral=True,
        )

    @feed.command(name="pause", description="Stop announcing a feed until it is resumed")
    @app_commands.describe(feed="The feed (its number in /feed list)")
    async def feed_pause(self, interaction: discord.Interaction, feed: int) -> None:
        item = await self._subscription(interaction, feed)
        await self.subscriptions.set_paused(item.subscription.id, True)
        await interaction.response.send_message(
            f"Paused feed #{feed} in <#{item.subscription.channel_id}>. Entries published "
            "meanwhile will not be announced; `/feed resume` starts again.",
            ephemeral=True,
        )

    @feed.command(name="resume", description="Announce a paused or failing feed again")
    @app_commands.describe(feed="The feed (its number in /feed list)")
    async def feed_resume(self, interaction: discord.Interaction, feed: int) -> None:
        await self.resume(interaction, feed)

    async def resume(self, interaction: discord.Interaction, feed: int) -> None:
        """`/feed resume`, and the Resume button under a paused-feed notice."""
        item = await self._subscription(interaction, feed)
        await self.subscriptions.set_paused(item.subscription.id, False)
        await self.subscriptions.clear_disabled(item.subscription.id)
        notes = []
        if item.feed.paused_reason is not None:
            await self.feeds.resume(item.feed.id, now=time.time())
            notes.append("I'll poll it again right away.")
            await self.poller.start_due()
        if item.subscription.disabled_reason is not None:
            notes.append("Make sure I can post there, or announcements will stop again.")
        await interaction.response.send_message(
            " ".join([f"Resumed feed #{feed} in <#{item.subscription.channel_id}>.", *notes]),
            ephemeral=True,
        )

    @feed.command(name="test", description="Post a feed's newest entry now, marked as a test")
    @app_commands.describe(feed="The feed (its number in /feed list)")
    async def feed_test(self, interaction: discord.Interaction, feed: int) -> None:
        item = await self._subscription(interaction, feed)
        await interaction.response.defer(ephemeral=True, thinking=True)
        _result, parsed = await self.fetch_and_parse(item.feed.url)
        if not parsed.is_feed:
            raise UserFacingError(f"The feed can't be read right now: {parsed.error}.")
        if not parsed.entries:
            raise UserFacingError("The feed has no entries to show yet.")
        entry = newest_entry(parsed.entries)
        ingested = await ingest_entries(self.bot.db, [entry], origin_feed_title=parsed.title)
        summary = await self.outbox.announced_summary(ingested.results[0].summary_id)
        assert summary is not None
        # Rendering a long summary is CPU work: off the event loop.
        message = await asyncio.to_thread(
            partial(
                summary_message,
                summary,
                source_name=parsed.title or item.feed.display_name,
                mention_role_id=None,
                test=True,
            )
        )
        channel_id = item.subscription.channel_id
        delivery = item.subscription.delivery
        threads = DiscordThreads(self.bot)
        name = thread_name("[Test] " + summary.title)
        try:
            if delivery == "forum":
                post = await threads.create_post(channel_id, name, message)
                link = f"https://discord.com/channels/{interaction.guild_id}/{post.thread_id}"
            else:
                channel = self.bot.get_partial_messageable(
                    channel_id, guild_id=interaction.guild_id
                )
                sent = await channel.send(**message.send_arguments())
                link = sent.jump_url
        except (discord.Forbidden, discord.NotFound) as exc:
            what = "create posts" if delivery == "forum" else "send messages and embed links"
            raise UserFacingError(
                f"I can't post in <#{channel_id}> ({exc.status}): check that the channel "
                f"exists and that I may {what} there."
            ) from exc
        note = ""
        if delivery == "thread":
            try:
                await threads.start_thread(channel_id, sent.id, name)
            except discord.HTTPException as exc:
                note = (
                    f" I couldn't open its discussion thread ({exc.status}): check that I "
                    f"have Create Public Threads in <#{channel_id}>."
                )
        await interaction.followup.send(f"Posted a test announcement: {link}{note}", ephemeral=True)

    @feed_remove.autocomplete("feed")
    @feed_pause.autocomplete("feed")
    @feed_resume.autocomplete("feed")
    @feed_test.autocomplete("feed")
    @logged_autocomplete
    async def feed_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        needle = current.casefold().lstrip("#")
        choices = []
        guild = interaction.guild
        for item in await self.subscriptions.for_guild(interaction.guild_id):
            channel = guild.get_channel(item.subscription.channel_id) if guild else None
            where = f"#{channel.name}" if channel is not None else "a channel"
            name = f"#{item.subscription.id} {item.feed.display_name} → {where}"
            if needle in name.casefold():
                choices.append(
                    app_commands.Choice(name=shorten(name, 100), value=item.subscription.id)
                )
        return choices[:25]

    # --- /announce channel ------------------------------------------------------------

    @announce.command(
        name="channel", description="Where new community summaries of this server are announced"
    )
    @app_commands.describe(channel="The channel; leave empty to stop announcing them")
    async def announce_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None
        if channel is None:
            await self.community_channels.clear(interaction.guild_id)
            await interaction.response.send_message(
                "New community summaries will not be announced any more.", ephemeral=True
            )
            return
        await self.community_channels.set(
            interaction.guild_id, channel.id, set_by=interaction.user.id, now=time.time()
        )
        await interaction.response.send_message(
            f"New community summaries of this server will be announced in {channel.mention}.",
            ephemeral=True,
        )


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(FeedsCog(bot))
