"""The built-in corpus's invented personas and the word pools every author shares (data only).

Bump ``corpus.CORPUS_VERSION`` whenever anything here changes: cache files and results carry it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """One invented author: topic words, habits and the rates that shape its tweets."""

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
PERSONAS: tuple[Persona, ...] = (
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
    Persona(
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
GROUP_WORDS: dict[str, str] = {
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
FILLER = (
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

GENERIC_HASHTAGS = (
    "#mondaymotivation #tbt #fridayfeeling #blessed #goals #weekend #throwback #motivation "
    "#grateful #love #mood #fbf #nofilter #instagood #happy"
)
GENERIC_EMOJI = "😂 ❤️ 🙏 😍 👍 🔥 😭 🙌 ✨ 💯 😅 🥳 🤔 👀 😊 🎉 👏🏼 🫶 🤷‍♀️ 💪"
GENERIC_MENTIONS = "@everyone_here @news_desk @weekend_crew @bestie @morning_show"
GENERIC_PHRASES = (
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
