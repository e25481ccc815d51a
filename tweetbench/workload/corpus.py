"""The built-in tweet corpus: invented celebrity personas, generated locally and cached as JSONL.

Nothing is downloaded. Each persona has its own topic words, hashtags, @mentions, emoji, URL and
length habits, but every author also draws on a large shared pool of filler words; personas come
in pairs whose topics overlap (two sports, two tech, ...); a tweet sometimes borrows another
author's topic; and some tweets are short generic chatter with no signal. That keeps the task
learnable but not trivial: the v1 BiLSTM plateaus in the mid-80s percent on 10 authors.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Bump whenever the generator or its word lists change: cache files and results carry it.
CORPUS_VERSION = "celebrity-tweets-v1"
MAX_AUTHORS = 10

# Difficulty knobs (tuned against the v1 BiLSTM, see the module docstring).
_P_GENERIC = 0.08  # a tweet is short generic chatter from the shared pools only
_P_BORROW = 0.15  # a tweet's topic words come from another author
_P_BORROW_PARTNER = 0.5  # ... and that author is the persona's topic partner
_P_PAIR_WORD = 0.45  # a topic word comes from the pair's shared pool, not the persona's own
_ZIPF_S = 1.05


@dataclass(frozen=True)
class Tweet:
    """One tweet and the handle of its author."""

    text: str
    author: str


@dataclass(frozen=True)
class _Persona:
    name: str
    group: str
    nouns: str
    verbs: str
    adjectives: str
    hashtags: str
    mentions: str
    emoji: str
    syllables: str  # builds the persona's invented proper nouns (people, places, products)
    mean_words: float
    sd_words: float
    topic_rate: float  # share of a tweet's words that are topical
    url_rate: float
    hashtag_rate: float
    mention_rate: float
    emoji_rate: float
    number_rate: float


# First the five topic groups once each, then their partners: small n_authors stay well separated.
_PERSONAS: tuple[_Persona, ...] = (
    _Persona(
        name="astro_ava",
        group="science",
        nouns="rocket orbit moon planet star galaxy telescope comet nebula crater capsule launch "
        "astronaut spacewalk module station payload booster mission satellite eclipse asteroid "
        "meteor cosmos universe gravity helmet airlock countdown trajectory hatch lander rover "
        "horizon sunrise cosmonaut thruster docking solar spacecraft constellation crew dome",
        verbs="launch orbit dock float land spin observe explore scan photograph drift ignite "
        "fly splash orbit train suit",
        adjectives="weightless cosmic lunar martian stellar orbital galactic infinite starry "
        "celestial interstellar",
        hashtags="#space #astronaut #moonshot #nasa_fan #stargazing #orbitlife #spacewalk "
        "#launchday #cosmos #iss",
        mentions="@mission_ctrl @orbital_ops @stargazer_club @luna_lab @capcom_joe @rocket_rita",
        emoji="🚀 🌙 🪐 ⭐ 🛰️ 👩‍🚀 🌌 ☄️ 🔭",
        syllables="zor kep tal vex ori nova lyr cen aqu sol ter ix ka",
        mean_words=16,
        sd_words=6,
        topic_rate=0.36,
        url_rate=0.35,
        hashtag_rate=0.9,
        mention_rate=0.3,
        emoji_rate=0.6,
        number_rate=0.35,
    ),
    _Persona(
        name="chef_marco",
        group="food",
        nouns="pasta risotto sauce tomato basil garlic olive kitchen menu chef restaurant "
        "truffle parmesan ravioli lasagna gnocchi pesto oregano skillet pan stove knife plate "
        "dinner lunch wine cheese mushroom ragu seafood lemon herbs service brigade tasting "
        "course dish grill salt pepper broth",
        verbs="cook simmer chop saute grill plate taste season stir roast slice drizzle "
        "marinate serve braise",
        adjectives="delizioso fresh rustic homemade savory crispy creamy tender handmade "
        "seasonal zesty",
        hashtags="#foodie #italianfood #chefslife #pasta #homemade #dinnertime #tastingmenu "
        "#mangia #kitchenlife #farmtotable",
        mentions="@trattoria_luce @nonna_rosa @market_fresh @sous_chef_pia @wine_guy_ugo",
        emoji="🍝 🍅 🧄 🍷 👨‍🍳 🔥 🧀 🇮🇹 🌿",
        syllables="ma ri no tel lo bru zza gio cci na ve ra pa",
        mean_words=14,
        sd_words=5,
        topic_rate=0.38,
        url_rate=0.2,
        hashtag_rate=0.8,
        mention_rate=0.25,
        emoji_rate=0.75,
        number_rate=0.15,
    ),
    _Persona(
        name="hoops_hank",
        group="sports",
        nouns="dunk rebound court hoop jumper playoffs dribble layup assist buzzer rim "
        "crossover backboard timeout quarter bench rookie halftime locker sneakers jersey "
        "freethrow triple fastbreak paint arena tipoff screen possession franchise mvp "
        "ballhandler alleyoop tripledouble arc",
        verbs="dunk shoot dribble rebound pass block hustle ball drive guard swish defend "
        "box",
        adjectives="clutch nasty smooth unguardable athletic explosive deep lockdown "
        "courtside",
        hashtags="#hoops #basketball #ballislife #playoffs #nba_fan #dunkcity #gametime "
        "#swish #courtvision #hoopdreams",
        mentions="@coach_dre @courtside_kev @the_rim_report @bigman_boone @sneaker_vault",
        emoji="🏀 🔥 💪 🏆 ⛹🏾‍♂️ 👟 💯 😤",
        syllables="dre ja von tay kev mar lo quin zay bo",
        mean_words=11,
        sd_words=5,
        topic_rate=0.36,
        url_rate=0.1,
        hashtag_rate=0.6,
        mention_rate=0.45,
        emoji_rate=0.8,
        number_rate=0.45,
    ),
    _Persona(
        name="dev_dana",
        group="tech",
        nouns="code bug compiler commit branch merge function refactor terminal keyboard "
        "python rust typescript linter debugger stacktrace repo pullrequest deploy server "
        "database query cache api endpoint docker container kubernetes pipeline test "
        "regression segfault vim editor laptop coffee",
        verbs="debug refactor ship deploy compile merge rebase push lint test patch hack "
        "profile benchmark",
        adjectives="buggy legacy async flaky typed concurrent elegant deprecated verbose "
        "recursive",
        hashtags="#100daysofcode #devlife #coding #opensource #rustlang #python #webdev "
        "#programming #debugging #devops",
        mentions="@linus_fanclub @oss_maintainer @rustacean_rae @pydev_pat @stack_overflowed",
        emoji="💻 🐛 ⌨️ 🧑‍💻 ☕ 🤖 ⚙️ 🚢",
        syllables="lib zo dex ly tron fy ix op kit ora hub",
        mean_words=15,
        sd_words=7,
        topic_rate=0.36,
        url_rate=0.45,
        hashtag_rate=0.5,
        mention_rate=0.35,
        emoji_rate=0.35,
        number_rate=0.3,
    ),
    _Persona(
        name="beats_kai",
        group="showbiz",
        nouns="album track studio beat verse chorus mixtape tour stage crowd mic vinyl "
        "playlist headphones bassline melody producer remix single concert encore setlist "
        "soundcheck guitar synth drums lyrics hook festival backstage fans record",
        verbs="drop record mix produce perform rap sing jam tour stream rehearse remix",
        adjectives="lit loud acoustic sold-out unreleased funky soulful hypnotic live catchy",
        hashtags="#newmusic #studiolife #tour #nowplaying #hiphop #producer #livemusic "
        "#mixtape #musicislife #onstage",
        mentions="@label_records @dj_nova @the_mixroom @soundguy_sid @tour_manager_tee",
        emoji="🎧 🎤 🎶 🎹 🥁 🔊 🎸 ✨",
        syllables="ky ra zen lo mi tae sol ven ny kai",
        mean_words=10,
        sd_words=5,
        topic_rate=0.36,
        url_rate=0.3,
        hashtag_rate=0.55,
        mention_rate=0.4,
        emoji_rate=0.85,
        number_rate=0.2,
    ),
    _Persona(
        name="lab_leo",
        group="science",
        nouns="lab experiment cell protein gene microscope sample hypothesis data paper "
        "grant enzyme bacteria culture pipette centrifuge assay sequencing molecule "
        "mutation petri reagent result peerreview journal conference poster postdoc "
        "thesis dna vaccine virus neuron",
        verbs="measure sequence culture publish replicate analyze pipette stain observe "
        "discover test hypothesize",
        adjectives="peer-reviewed significant novel molecular cellular statistical "
        "reproducible preliminary genomic",
        hashtags="#science #labwork #phdlife #biology #research #academictwitter #scicomm "
        "#womeninstem #openscience #genomics",
        mentions="@journal_club @grad_school_gab @pi_petra @lab_manager_lu @scicomm_sal",
        emoji="🔬 🧬 🧪 🦠 📊 🧫 🤓 🔭",
        syllables="gen ase pro tin cyt lyt xo ami ox in",
        mean_words=18,
        sd_words=7,
        topic_rate=0.34,
        url_rate=0.5,
        hashtag_rate=0.6,
        mention_rate=0.3,
        emoji_rate=0.3,
        number_rate=0.4,
    ),
    _Persona(
        name="baker_bea",
        group="food",
        nouns="sourdough bread dough flour oven loaf crust crumb starter butter croissant "
        "cake frosting cookie muffin pastry yeast sugar vanilla cinnamon batter bakery "
        "scone brioche tart pie cupcake icing sprinkles rolling pin proof bagel",
        verbs="bake knead proof whisk fold frost glaze rise sift decorate cool roll",
        adjectives="fluffy golden flaky buttery gooey sweet warm crumbly airy chewy",
        hashtags="#baking #sourdough #bakersofinstagram #breadtok #homebaker #cakedecorating "
        "#pastry #bakeday #realbread #sweettooth",
        mentions="@flour_power_co @the_bread_club @pastry_pete @oven_lovers @cake_queen_cleo",
        emoji="🥐 🍞 🧁 🎂 🍪 🥧 🧈 💛",
        syllables="bea lu pip mo sug bun cre ella po dot",
        mean_words=13,
        sd_words=5,
        topic_rate=0.38,
        url_rate=0.25,
        hashtag_rate=0.85,
        mention_rate=0.2,
        emoji_rate=0.8,
        number_rate=0.25,
    ),
    _Persona(
        name="goal_gio",
        group="sports",
        nouns="goal pitch striker keeper derby penalty freekick header midfield tackle "
        "offside stadium kit league cup final corner crossbar hattrick volley winger "
        "defender captain transfer pitchside referee whistle matchday supporters chant "
        "clean sheet extra time",
        verbs="score tackle cross shoot head volley defend press dribble celebrate save "
        "sub",
        adjectives="brilliant unbeaten relegated gutted top-flight proper absolute class "
        "bottled",
        hashtags="#football #matchday #golazo #derbyday #coys #ucl #soccer #championsleague "
        "#footy #upthecity",
        mentions="@the_gaffer @ultras_united @pitchside_pete @keeper_kat @transfer_talk",
        emoji="⚽ 🥅 🏟️ 🔥 🏆 😤 🙌 🏃🏽‍♂️",
        syllables="gio lu ca zan fer ro bi pel vic to",
        mean_words=12,
        sd_words=5,
        topic_rate=0.36,
        url_rate=0.15,
        hashtag_rate=0.6,
        mention_rate=0.5,
        emoji_rate=0.7,
        number_rate=0.5,
    ),
    _Persona(
        name="founder_sam",
        group="tech",
        nouns="startup founder investor pitch deck seed round valuation product launch "
        "growth users revenue metrics roadmap team hiring runway burn unicorn vc board "
        "customer market pivot saas platform ai model equity accelerator demo api",
        verbs="ship scale raise hire pivot launch iterate grow build disrupt fundraise "
        "network",
        adjectives="disruptive scalable lean bootstrapped profitable visionary agile "
        "data-driven hypergrowth",
        hashtags="#startup #founder #buildinpublic #vc #saas #growthhacking #entrepreneur "
        "#ai #productmanagement #techtwitter",
        mentions="@angel_ann @seed_fund_sy @growth_guru_gus @pm_priya @demo_day_dan",
        emoji="📈 💡 🚀 💰 🦄 🧠 📊 🤝",
        syllables="ly fy ify io ze qua nex dri ops bo",
        mean_words=20,
        sd_words=8,
        topic_rate=0.33,
        url_rate=0.55,
        hashtag_rate=0.5,
        mention_rate=0.35,
        emoji_rate=0.45,
        number_rate=0.45,
    ),
    _Persona(
        name="screen_sofia",
        group="showbiz",
        nouns="film movie scene script director premiere trailer set camera audition "
        "role character red carpet festival award screenplay sequel cast crew rehearsal "
        "wardrobe makeup studio box office cinema screening interview press junket lines",
        verbs="film shoot act rehearse premiere cast direct audition wrap edit perform "
        "star",
        adjectives="cinematic dramatic iconic award-winning indie glamorous emotional "
        "behind-the-scenes",
        hashtags="#film #onset #movienight #premiere #redcarpet #actorslife #cinema "
        "#behindthescenes #filmfestival #newtrailer",
        mentions="@director_dev @casting_cara @premiere_press @costar_cole @film_fest_fi",
        emoji="🎬 🎥 🍿 🌟 🏆 💃 📸 ✨",
        syllables="sof ia lu ce mar lei ro ve an ne",
        mean_words=14,
        sd_words=6,
        topic_rate=0.35,
        url_rate=0.4,
        hashtag_rate=0.7,
        mention_rate=0.45,
        emoji_rate=0.7,
        number_rate=0.2,
    ),
)

# Topic words each pair of personas shares.
_GROUP_WORDS: dict[str, str] = {
    "science": "research discovery data science experiment mission observe measure "
    "instrument signal physics chemistry theory model lab nasa funding launch sample "
    "observation scientist discovery orbit spectrum radiation particle energy climate "
    "ocean earth",
    "food": "recipe kitchen oven flavor ingredients butter fresh homemade taste "
    "delicious brunch dessert breakfast table bake cook meal farmers market spice "
    "salt sugar cream eggs apron tasting",
    "sports": "game win loss season team coach fans squad training tonight match "
    "playoffs trophy champions highlights score stadium league rivals comeback "
    "injury draft roster locker teammates referee",
    "tech": "software app startup product launch users code platform ai cloud data "
    "open source api beta release feature bug roadmap engineers laptop scale "
    "automation hackathon",
    "showbiz": "show tour fans stage premiere studio tonight release crowd award "
    "festival tickets interview backstage performance sold spotlight encore "
    "night rehearsal press premiere photoshoot",
}

# Words everybody uses: function words, common verbs and nouns, social-media chatter.
_FILLER = (
    "the a an and or but so to of in on at for with from by about as into over after "
    "before up down out off just really very so too also still even only never always "
    "again already now today tonight tomorrow yesterday week weekend morning night time "
    "day year moment life people everyone someone nobody friends family guys folks "
    "i me my we our you your they them their he she it this that these those here there "
    "what when where why how who which all some any every more most much many few "
    "is are was were be been being am have has had do does did will would can could "
    "should might must may get got getting go going went come coming make made take "
    "took see saw look looking watch watching think thought know knew feel feeling "
    "want need love like hate hope wish try trying say said tell ask thank thanks "
    "give keep let put run start stop finish wait miss find lose win play work working "
    "good great best better bad worse worst new old big small little long short "
    "high low happy sad proud excited tired ready busy crazy amazing awesome "
    "incredible wild huge real true honest funny weird cool nice beautiful perfect "
    "first last next other same own whole right wrong sure maybe yes no not "
    "lol omg lmao tbh ngl imo fr smh wow yeah yep nah okay ok haha hahaha ugh yay "
    "literally honestly basically seriously totally definitely probably actually "
    "vibes mood energy goals dream dreams story stories news update thread post "
    "photo video pic live stream link check share follow shoutout congrats "
    "birthday holiday summer winter spring fall rain sun weather coffee tea "
    "home house city town trip travel road car train plane airport hotel "
    "phone text call email message chat meeting office job boss team "
    "thing things stuff way place point part side kind lot bit world country "
    "question answer idea plan chance reason problem fun joy peace luck "
    "gonna wanna gotta cause tho though because if then than while until "
    "can't don't won't didn't isn't it's i'm you're that's what's let's "
    "we're they're i've i'll couldn't wouldn't shouldn't doesn't wasn't "
    "monday tuesday wednesday thursday friday saturday sunday"
)

_GENERIC_HASHTAGS = (
    "#mondaymotivation #tbt #fridayfeeling #blessed #goals #weekend #throwback #motivation "
    "#grateful #love #mood #fbf #nofilter #instagood #happy"
)
_GENERIC_EMOJI = "😂 ❤️ 🙏 😍 👍 🔥 😭 🙌 ✨ 💯 😅 🥳 🤔 👀 😊 🎉 👏🏼 🫶 🤷‍♀️ 💪"
_GENERIC_MENTIONS = "@everyone_here @news_desk @weekend_crew @bestie @morning_show"
_GENERIC_PHRASES = (
    "good morning everyone",
    "happy friday",
    "thank you so much",
    "lol same",
    "this is everything",
    "can't wait",
    "so true",
    "what a day",
    "love you all",
    "see you tonight",
    "miss this",
    "we're back",
    "big news soon",
    "no words",
    "best weekend ever",
)
_SLUG_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ENDINGS = ("", "", "", ".", "!", "!!", "?", "...", " :)")


class _Pool:
    """A word list sampled with Zipf-like weights: the first words are the common ones."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(dict.fromkeys(words))
        weights = [1.0 / (rank + 1) ** _ZIPF_S for rank in range(len(self.words))]
        self.cum_weights = tuple(itertools.accumulate(weights))

    def sample(self, rng: random.Random, k: int) -> list[str]:
        if k <= 0:
            return []
        return rng.choices(self.words, cum_weights=self.cum_weights, k=k)


@dataclass(frozen=True)
class _Lexicon:
    topic: _Pool
    group: _Pool
    hashtags: _Pool
    mentions: _Pool
    emoji: _Pool


def _inflect(verb: str) -> list[str]:
    stem = verb[:-1] if verb.endswith("e") else verb
    return [verb, verb + "s", stem + "ed", stem + "ing"]


def _invented_names(persona: _Persona, count: int) -> list[str]:
    """Pseudo-words for the persona's people, places and products; fixed per persona."""
    rng = random.Random(zlib.crc32(persona.name.encode()))
    parts = persona.syllables.split()
    names: dict[str, None] = {}
    while len(names) < count:
        names["".join(rng.choice(parts) for _ in range(rng.randint(2, 3)))] = None
    return list(names)


@lru_cache(maxsize=None)
def _lexicon(persona: _Persona) -> _Lexicon:
    nouns = persona.nouns.split()
    verbs = [form for verb in persona.verbs.split() for form in _inflect(verb)]
    # Interleave so the Zipf head holds a mix of nouns, verbs and adjectives.
    core = [
        word
        for group in itertools.zip_longest(nouns, verbs, persona.adjectives.split())
        for word in group
        if word
    ]
    plurals = [noun + "s" for noun in nouns if not noun.endswith("s")]
    topic = core + plurals + _invented_names(persona, 200)
    return _Lexicon(
        topic=_Pool(topic),
        group=_Pool(_GROUP_WORDS[persona.group].split()),
        hashtags=_Pool(persona.hashtags.split()),
        mentions=_Pool(persona.mentions.split()),
        emoji=_Pool(persona.emoji.split()),
    )


_FILLER_POOL = _Pool(_FILLER.split())
_GENERIC_HASHTAG_POOL = _Pool(_GENERIC_HASHTAGS.split())
_GENERIC_EMOJI_POOL = _Pool(_GENERIC_EMOJI.split())
_GENERIC_MENTION_POOL = _Pool(_GENERIC_MENTIONS.split())


def _generic_tweet(rng: random.Random) -> str:
    words = [rng.choice(_GENERIC_PHRASES)] if rng.random() < 0.5 else []
    words += _FILLER_POOL.sample(rng, rng.randint(1, 5))
    if rng.random() < 0.5:
        words += _GENERIC_EMOJI_POOL.sample(rng, rng.randint(1, 2))
    if rng.random() < 0.2:
        words += _GENERIC_HASHTAG_POOL.sample(rng, 1)
    return " ".join(words)


def _own_or_generic(rng: random.Random, own: _Pool, generic: _Pool, k: int) -> list[str]:
    return [(own if rng.random() < 0.6 else generic).sample(rng, 1)[0] for _ in range(k)]


def _number(rng: random.Random) -> str:
    form = rng.randrange(5)
    if form == 0:
        return str(rng.randint(1, 99))
    if form == 1:
        return str(rng.randint(2015, 2026))
    if form == 2:
        return f"{rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))}"
    if form == 3:
        return f"{rng.randint(1, 500)}k"
    return f"{rng.randint(1, 100)}%"


def _url(rng: random.Random) -> str:
    slug = "".join(rng.choices(_SLUG_CHARS, k=10))
    return f"https://t.co/{slug}"


def _tweet(rng: random.Random, persona: _Persona, source: _Persona) -> str:
    """One tweet in ``persona``'s habits about ``source``'s topics (usually the same persona)."""
    own, topic = _lexicon(persona), _lexicon(source)
    n_words = max(2, min(40, round(rng.gauss(persona.mean_words, persona.sd_words))))
    n_topic = max(0, min(n_words, round(n_words * persona.topic_rate + rng.gauss(0, 1.2))))
    n_pair = sum(rng.random() < _P_PAIR_WORD for _ in range(n_topic))
    words = _FILLER_POOL.sample(rng, n_words - n_topic)
    words += topic.topic.sample(rng, n_topic - n_pair) + topic.group.sample(rng, n_pair)
    rng.shuffle(words)
    if rng.random() < persona.number_rate:
        words.insert(rng.randrange(len(words) + 1), _number(rng))
    if rng.random() < persona.mention_rate:
        mention = _own_or_generic(rng, own.mentions, _GENERIC_MENTION_POOL, 1)
        words.insert(0 if rng.random() < 0.5 else rng.randrange(len(words) + 1), mention[0])
    text = " ".join(words)
    text = (text[:1].upper() + text[1:] if rng.random() < 0.4 else text) + rng.choice(_ENDINGS)
    extras: list[str] = []
    if rng.random() < persona.emoji_rate:
        extras += _own_or_generic(rng, own.emoji, _GENERIC_EMOJI_POOL, rng.randint(1, 3))
    if rng.random() < persona.hashtag_rate:
        extras += _own_or_generic(rng, own.hashtags, _GENERIC_HASHTAG_POOL, rng.randint(1, 3))
    if rng.random() < persona.url_rate:
        extras.append(_url(rng))
    return " ".join([text, *extras])


def _pick_source(rng: random.Random, persona: _Persona, authors: Sequence[_Persona]) -> _Persona:
    if len(authors) < 2 or rng.random() >= _P_BORROW:
        return persona
    partners = [a for a in authors if a.group == persona.group and a is not persona]
    if partners and rng.random() < _P_BORROW_PARTNER:
        return partners[0]
    return rng.choice([a for a in authors if a is not persona])


def generate_corpus(n_tweets: int, n_authors: int, seed: int) -> list[Tweet]:
    """``n_tweets // n_authors`` tweets from each of the first ``n_authors`` personas, shuffled.

    Deterministic: the same arguments give the same list, on any machine.
    """
    if not 1 <= n_authors <= MAX_AUTHORS:
        raise ValueError(f"n_authors must be between 1 and {MAX_AUTHORS}, got {n_authors}")
    if n_tweets < n_authors:
        raise ValueError(f"n_tweets ({n_tweets}) must be at least n_authors ({n_authors})")
    rng = random.Random(seed)
    authors = _PERSONAS[:n_authors]
    order = [persona for persona in authors for _ in range(n_tweets // n_authors)]
    rng.shuffle(order)
    tweets = []
    for persona in order:
        if rng.random() < _P_GENERIC:
            text = _generic_tweet(rng)
        else:
            text = _tweet(rng, persona, _pick_source(rng, persona, authors))
        tweets.append(Tweet(text=text, author=persona.name))
    return tweets


def persona_names(n_authors: int = MAX_AUTHORS) -> list[str]:
    """The handles of the first ``n_authors`` built-in personas, in corpus order."""
    return [persona.name for persona in _PERSONAS[:n_authors]]


def default_cache_dir() -> Path:
    """``$TWEETBENCH_CACHE`` if set, else ``~/.cache/tweetbench``."""
    env = os.environ.get("TWEETBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tweetbench"


def cache_path(n_tweets: int, n_authors: int, seed: int, cache_dir: Path | None = None) -> Path:
    """Where ``load_builtin_corpus`` keeps the corpus for these arguments."""
    directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return directory / f"{CORPUS_VERSION}-n{n_tweets}-a{n_authors}-s{seed}.jsonl"


def load_builtin_corpus(
    n_tweets: int, n_authors: int, seed: int, cache_dir: Path | None = None
) -> list[Tweet]:
    """The generated corpus, read from the JSONL cache when a valid copy is there.

    A missing, corrupt or truncated cache is regenerated and rewritten without a word; a cache
    directory that cannot be written only costs the caching.
    """
    path = cache_path(n_tweets, n_authors, seed, cache_dir)
    header = {
        "corpus_version": CORPUS_VERSION,
        "n_tweets": n_tweets,
        "n_authors": n_authors,
        "seed": seed,
    }
    expected = (n_tweets // n_authors) * n_authors if 1 <= n_authors <= n_tweets else -1
    cached = _read_cache(path, header, expected)
    if cached is not None:
        return cached
    tweets = generate_corpus(n_tweets, n_authors, seed)
    try:
        _write_cache(path, header, tweets)
    except OSError:
        pass  # a read-only or full cache directory must not stop the benchmark
    return tweets


def _read_cache(path: Path, header: dict[str, object], expected: int) -> list[Tweet] | None:
    try:
        with path.open(encoding="utf-8") as file:
            if json.loads(file.readline()) != header:
                return None
            rows = [json.loads(line) for line in file]
            tweets = [Tweet(text=row["text"], author=row["author"]) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # ValueError covers bad JSON and bad UTF-8
    valid = all(isinstance(t.text, str) and isinstance(t.author, str) for t in tweets)
    return tweets if valid and len(tweets) == expected else None


def _write_cache(path: Path, header: dict[str, object], tweets: list[Tweet]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps(header) + "\n")
            for tweet in tweets:
                row = {"text": tweet.text, "author": tweet.author}
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
