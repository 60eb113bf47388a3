"""Spot an explicit statement of suicidal or self-harm intent in a message, before any coaching.

Rules run over `normalize(text)` with accents stripped ("estaría" == "estaria"). They let everyday
idioms through ("this workout is killing me", "suicide sprints") but, when unsure, err towards
flagging: a missed crisis costs far more than an unneeded helpline message. A phrase negated right
before it ("I don't want to die", "no quiero morir") is not flagged.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class CrisisSignal:
    language: str  # ISO 639-1 code of the rule that matched, e.g. "en"
    rule: str  # short stable name of the rule, e.g. "kill_myself"
    excerpt: str  # the matched span of the normalized text


_INVISIBLE = re.compile(
    "[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
    "\ufe00-\ufe0f\ufeff\U000e0000-\U000e007f]"
)
# Before NFKC: it would turn U+00B4 into a space plus a combining accent.
_QUOTES = str.maketrans(
    dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u00b4`\u201c\u201d\u201e\u201f\u2033", "'")
)


def normalize(text: str) -> str:
    """NFKC, casefold, no invisible characters, ASCII apostrophes, single spaces."""
    if text.isascii():
        return " ".join(text.lower().split())
    text = _INVISIBLE.sub("", text.translate(_QUOTES))
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(text.split())


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return base if len(base) == 1 else ch  # one char for one char, so match spans stay valid


def _fold(text: str) -> str:
    return text if text.isascii() else "".join(map(_fold_char, text))


# fmt: off
# Shared English fragments. "my self-esteem" is not "myself".
_ME = (r"(?:my ?self(?![- ]?(?:esteem|confidence|worth|image|respect|control|doubt|care|talk)\b)"
       r"|myslef|meself)")
_INTENT = (r"(?:want(?:s|ed|ing)? (?:to|2)|wanna|wana|going to|gonna|gunna|i'?ll|i will"
           r"|plan(?:ning)? (?:to|on)|about to|ready to|tempted to|urges? to|need to|feel like"
           r"|thinking (?:about|of)|thoughts of|tried to|trying to|try to|should (?:just )?"
           r"|could just|might just)")
_MEDS = (r"(?:(?:all|my|the|some|a bunch of|sleeping|of) )*(?:pills|meds|medication|medicine"
         r"|tablets|insulin|painkillers|paracetamol|tylenol|xanax|heroin|fentanyl|opioids|drugs)")
# "I don't want to live in this city", "tired of living paycheck to paycheck", "live forever".
_LIVE_TAIL = (r"(?! (?:in|with|without|at|near|on|off|by|alone|together|there|here|abroad"
              r"|forever|to|longer|past|until|under|paycheck|from|out of|a|an|the)\b)")
_DIE_IDIOM = (r"(?! (?:laugh\w*|of (?:laughter|embarrassment|shame|cringe|boredom|old age"
              r"|natural causes)|from (?:embarrassment|cringe|laughter)|on (?:this|that|a|the) hill"
              r"|happy|old|healthy|peacefully|in peace|with dignity|at (?:\d|an old|a ripe|home)"
              r"|a little inside)\b)")
# "5 kms", "a few kms": kilometres, not "kill myself". Checked after "kms" matched, as it is slow.
_NOT_DISTANCE = "(?<![\\d.,]kms)" + "".join(f"(?<!{w} kms)" for w in (
    r"\d", "few", "many", "some", "more", "extra", "the", "of", "those", "these", "couple",
    "several", "total", "ran", "run", "walked", "cycled", "rode", "biked", "hiked", "swam", "two",
    "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty", "hundred"))
_OFF_PLACE = (r"(?:bridge|building|roof|rooftop|cliff|balcony|ledge|tower|overpass"
              r"|skyscraper|window)")
_VEHICLE = r"(?:train|bus|car|truck|lorry|subway|tube|tram|traffic)"
_ART = r"(?:(?:a|the|this|that|my|some) )?(?:\w+ )?"
_ES_IDIOM = r"(?! de (?:la )?(?:risa|verguenza|pena|hambre|sueno|calor|frio|aburrimiento|viej[oa]))"
_PT_IDIOM = r"(?! de (?:rir|vergonha|fome|sono|calor|frio|tedio|velh[oa]))"
_FR_IDIOM = r"(?! de (?:rire|honte|faim|chaud|froid|ennui|fatigue|vieillesse))"
_IT_IDIOM = r"(?! (?:dal ridere|dalle risate|di (?:vergogna|fame|noia|vecchiaia|caldo|freddo)))"

_RULES: tuple[tuple[str, str, str], ...] = (
    # "killing myself" alone is the gym idiom, so it needs a lead-in ("thinking of killing myself").
    ("en", "kill_myself", rf"\bkil+ ?{_ME}\b(?! (?:laughing|trying|working|training"
     r"|at (?:the gym|work)|in the gym|to (?:get|make|hit|finish|lose)))"
     rf"|\b(?:about|of|considering|contemplating|planning on|feel like|urges? to) kil+ing {_ME}"
     rf"|\bkil+ing {_ME} (?:tonight|tomorrow)\b(?![^.!?]*\b(?:gym|workout|training|class|run)\b)"
     rf"|\b(?:should(?:'ve| have| of)|wish i(?:'d| had)|almost|nearly) killed {_ME}"
     r"(?= *(?:$|[.!?,;]|last|yesterday|once|twice|before))"),
    # Drills ("suicide sprints", "suicide grip", plural "suicides") and "career suicide" are idioms.
    ("en", "suicide", r"\b(?=su|sewer)(?<!career )(?<!social )(?<!political )(?<!financial )"
     r"(?<!professional )(?:su[i1]?[cs][i1]?d(?:e|al|ality|ally)|sewer ?slide)\b"
     r"(?! (?:sprints?|drills?|runs?|shuttles?|squats?|burpees?|lines?|grip|doors?|squad|bomb\w*"
     r"|attacks?|pace|speed|mission|splits?|tempo|king"
     r"|(?:prevention|awareness)(?! (?:hot)?line| lifeline| number))\b)"),
    ("en", "self_harm", rf"\bself[ -]?(?:harm|injur|mutilat)\w*|\bharm(?:ing|ed|s)? {_ME}\b"),
    # Intent alone is not enough for "hurt myself": "I'll hurt myself if I lift that" is injury.
    ("en", "hurt_myself", rf"\b{_INTENT} (?:hurt|hit|punch)(?:ing)? {_ME}\b"
     r"(?![^.!?]*\b(?:if|when|lifting|lift|running|training|squat\w*|deadlift\w*|bench\w*"
     r"|workout|gym|skiing|playing|doing that|like that)\b)"
     rf"|\b(?:hurt|cut|burn|burnt|hit|punch|scratch|bang)\w{{0,4}} {_ME} (?:\w+ ){{0,3}}?"
     r"(?:on purpose|deliberately|intentionally)\b"),
    # "I cut myself again" is flagged; a slice of cake, slack, shaving, cooking are not.
    ("en", "cut_myself", rf"\bcut(?<!accidentally cut)(?:ting|s)? {_ME}\b"
     r"(?! (?:a|an|some|another|off|out|short|slack|back|down|free|loose|up|in half)\b"
     r"| on (?!purpose)| (?:down |back )?to \d)(?![^.!?]*\b(?:shav\w*|cooking|chopping|slicing"
     r"|peeling|kitchen|accident\w*|mistake|paper|opening)\b)"),
    ("en", "unalive", rf"\bunaliv(?:e|ing)\b|\b(?:to|gonna|wanna|just|i'?ll|should) off {_ME}\b"),
    # Internet shorthand for "kill myself"; "kmsl" (laughing) is not included.
    ("en", "kms", rf"\bkms\b{_NOT_DISTANCE}(?! (?:per|a day|a week|an hour|away|from|left|to go"
     r"|run|ran|walk\w*|ride|rode|ago)\b)"),
    ("en", "want_to_die", r"\b(?:want(?:s|ed|ing)?|wanna|wana|wish|ready|deserve|deserves|need"
     r"|'d like|would like|can'?t wait) (?:to |2 )?(?:just |really |honestly |fucking |fkn "
     r"|literally )?(?:die+|be dead|not exist|stop existing|not be alive|not wake up)\b"
     rf"{_DIE_IDIOM}|\bfeel like dying\b{_DIE_IDIOM}"),
    ("en", "wish_dead", r"\bwish(?:ing|ed)? (?:that )?i(?: was| were|'d be| could be| would be)"
     r" dead\b|\bwish(?:ing|ed)? (?:that )?i(?: could| would|'d)?(?: just)? die+\b"
     r"|\bwish(?:ing|ed)? (?:that )?(?:i(?: was| were|'d| had)? never(?: been)? born"
     r"|i (?:wasn'?t|weren'?t|was not) (?:born|alive)|i (?:didn'?t|did not) exist)\b"
     r"|\bi (?:shouldn'?t|should not|don'?t deserve to) (?:be alive|exist|have been born"
     r"|live)\b"),
    ("en", "better_off_dead", r"\bbetter off (?:dead|without me)\b"
     r"|\bbetter off if i(?: was| were|'m| am)? (?:dead|gone|not here|not around|not alive)\b"
     r"|\b(?:miss me|care|notice) if i (?:died|killed my ?self|was dead|were dead|was gone)\b"),
    ("en", "dont_want_to_live", r"\b(?:don'?t|do not|didn'?t|did not|no longer|never)"
     rf" (?:want|wanna|wish) (?:to |2 )?(?:live|keep living|go on living)\b{_LIVE_TAIL}"
     rf"|\b(?:don'?t|do not) feel like living\b{_LIVE_TAIL}"
     r"|\b(?:don'?t|do not|didn'?t|did not|no longer|never) (?:want|wanna|wish) (?:to |2 )?"
     r"(?:be alive|exist|be (?:here|around) any ?more(?= *(?:$|[.!?,;])))"
     rf"|\bnot sure (?:if |that )?i (?:want|wanna) (?:to )?(?:live|be alive)\b{_LIVE_TAIL}"),
    ("en", "no_reason_to_live", r"\bno (?:reason|point|purpose)(?: in| of| to)?"
     rf" (?:liv(?:e|ing)|being alive|existing)\b{_LIVE_TAIL}"
     r"|\bno (?:reason|point) (?:in |to )?(?:go|going|keep|keeping|carry|carrying) on"
     r"(?= *(?:$|[.!?,;]|any ?more))|\bnothing (?:left )?to live for\b|\bnot worth living\b"
     r"|\blife (?:isn'?t|is not|ain'?t|is no longer) worth (?:living|it)\b"
     rf"|\b(?:tired|sick|done) (?:of|with) (?:being alive|living|existing)\b{_LIVE_TAIL}"
     r"|\b(?:tired|sick|done) (?:of|with) life(?= *(?:$|[.!?,;]|any ?more))"
     rf"|\bhate (?:being alive|existing)\b{_LIVE_TAIL}"),
    ("en", "end_my_life", r"\bend(?:ing)? (?:my (?:own )?life|it all)\b"
     r"|\bend(?:ing)? it (?:tonight|today|for good)\b"
     r"|\bwant (?:it all|everything|my life) to (?:end|be over)(?= *(?:$|[.!?,;]|now|tonight))"),
    # "take my life back / to the next level" is coaching talk; bare "take my life" must end there.
    ("en", "take_my_life", r"\btak(?:e|ing|en) my own life\b"
     r"|\btake my life(?= *(?:$|[.!?,;]|tonight|today|now|soon|tomorrow))"),
    ("en", "never_wake_up", r"\b(?:hope|wish|want|wanna|pray)(?:ing)? (?:that )?"
     r"i(?: would|'d| will|'ll)? (?:just )?never wake up\b|\bnever (?:want|wanna) (?:to )?wake up\b"
     r"|\b(?:don'?t|do not) (?:want|wanna) (?:to )?wake up (?:again|any ?more|ever\b"
     r"|tomorrow(?= *(?:$|[.!?,;])))|\b(?:go to |fall a)sleep and never wake up\b"),
    ("en", "jump", rf"\b{_INTENT} (?:just )?(?:jump(?:ing)?|throw(?:ing)? {_ME}|step(?:ping)?"
     rf"|walk(?:ing)?|driv(?:e|ing)(?: my car)?|lie|lying) (?:(?:off|from) {_ART}{_OFF_PLACE}"
     rf"|(?:in front of|under) {_ART}{_VEHICLE}|into (?:the )?(?:oncoming )?traffic)\b"
     r"(?![^.!?]*\b(?:water|lake|sea|ocean|river|pool|swim\w*|div\w*|bungee|parachut\w*"
     r"|skydiv\w*)\b)"),
    # Gym look-alikes: "hang myself upside down", "shoot myself a reminder", "drown myself in work".
    ("en", "method", rf"\b(?:hang|hanging|hanged|shoot|shooting|stab|stabbing|drown|drowning)"
     rf" {_ME}\b(?! (?:a|an|some|up|upside|from (?:a|the) (?:(?:pull|chin) ?-?up )?(?:bar|rings)"
     r"|on (?:a|the) bar|in the (?:foot|leg)|in (?!the (?:river|lake|sea|ocean|bath)\b))\b)"
     r"|\b(?:slit|slash)(?:ting|ing)? my (?:wrists?|throat)\b|\bcut(?:ting)? my wrists\b"
     r"|\bput a bullet (?:in|through) my\b|\bblow my (?:own )?brains? out\b"),
    # Bare "overdose" is health talk ("risk of overdose"); "overdose on caffeine" is a joke.
    ("en", "overdose", r"\b(?:overdos\w*|od) on purpose\b|\b(?:take|took|taking) an overdose\b"
     rf"|\b(?:{_INTENT} (?:overdos(?:e|ing)|od)|overdosed)\b(?! on (?!purpose|{_MEDS}))"
     rf"|\b{_INTENT} (?:take|swallow|taking|swallowing) (?:all|every one|the whole bottle) "
     rf"(?:of )?{_MEDS}|\b(?:took|swallowed) (?:a|the) whole bottle of {_MEDS}"),

    ("es", "quiero_morir", r"\b(?:quiero|quisiera|deseo|ganas de|me quiero|me gustaria)"
     rf" morir(?:me)?\b{_ES_IDIOM}|\bquiero estar muert[oa]\b"),
    # "me voy a matar entrenando" is the gym idiom.
    ("es", "matarme", r"\b(?:me (?:quiero|voy a|gustaria) matar"
     r"|(?:quiero|voy a|pienso en|pensando en|ganas de|intente) matarme)\b"
     r"(?! (?:entrenando|trabajando|estudiando|en el gym|en el gimnasio"
     r"|a (?:entrenar|estudiar|trabajar)|de (?:risa|hambre)))"),
    ("es", "suicidio", r"\b(?:suicid(?:arme|arte|io|a|as)|(?:voy|vas) a suicidar)\b"),
    ("es", "no_quiero_vivir", r"\bno (?:quiero|tengo ganas de) (?:seguir )?viv(?:ir|iendo)\b"
     r"(?! (?:en|con|sin|cerca|aqui|alli|alla)\b)"
     r"|\bno (?:tengo|hay) (?:razon|razones|motivo|motivos) para vivir\b"),
    ("es", "quitarme_la_vida", r"\b(?:quitarme la vida|(?:acabar|terminar) con mi vida"
     r"|estaria mejor muert[oa])\b"),
    ("es", "autolesion", r"\b(?:autolesion\w*|cortarme las venas"
     r"|(?:quiero|ganas de) (?:hacerme dano|lastimarme|cortarme))\b"),

    ("pt", "quero_morrer", rf"\b(?:quero|queria|vontade de|desejo) morrer\b{_PT_IDIOM}"
     r"|\bquero estar mort[oa]\b"),
    ("pt", "me_matar", r"\b(?:(?:quero|vou|queria|penso em|pensando em|vontade de|tentei) me matar"
     r"|(?:quero|vou) matar-me)\b(?! (?:de (?:tanto )?(?:treinar|trabalhar|estudar|rir)"
     r"|na academia|treinando|trabalhando))"),
    ("pt", "suicidio", r"\b(?:me suicidar|suicidar-me"
     r"|(?:penso|pensando|pensar|pensamentos?|ideias?) (?:em |no |de )?suicid(?:io|as?))\b"),
    ("pt", "nao_quero_viver", r"\bnao (?:quero|aguento) (?:mais )?viver\b"
     r"(?! (?:em|com|sem|perto|aqui|ali|la)\b)|\bnao (?:tenho|ha) (?:razao|motivo) para viver\b"),
    ("pt", "tirar_a_vida", r"\b(?:tirar (?:a )?minha (?:propria )?vida"
     r"|acabar com (?:a )?minha vida)\b"),
    ("pt", "autolesao", r"\b(?:automutila\w*|autolesao"
     r"|(?:quero|vontade de) (?:me cortar|me machucar))\b"),

    ("fr", "veux_mourir", r"\b(?:(?:je |j'?)veux|je voudrais|envie de|j'aimerais) (?:juste )?"
     rf"(?:mourir|crever|etre morte?)\b{_FR_IDIOM}"),
    ("fr", "suicide", r"\b(?:me suicider|suicidaire\w*"
     r"|(?:pense|pensees?|penser|idees?) (?:a |au )?suicide)\b"),
    ("fr", "me_tuer", r"\b(?:veux|vais|voudrais|envie de|pense a|penser a) me tuer\b"
     r"(?! (?:a la (?:tache|salle)|au travail|a l'entrainement|de rire))"),
    ("fr", "plus_envie_de_vivre", r"\b(?:plus envie de vivre|(?:ne )?veux (?:plus|pas) vivre"
     r"|(?:aucune|plus de) raison de vivre)\b(?! (?:ici|a|en|avec|sans|dans|chez|comme ca)\b)"),
    ("fr", "en_finir", r"\b(?:en finir avec (?:la vie|ma vie|tout)"
     r"|mettre fin a (?:mes jours|ma vie)|(?:veux|envie de) me faire du mal|automutil\w*"
     r"|me scarifier)\b"),

    # "das Training bringt mich um" (third person) is the gym idiom.
    ("de", "umbringen", r"\b(?:(?:will|werde|mochte|muss|konnte|wurde|daran,?|lust,?"
     r"|versucht,?) mich (?:selbst )?(?:umbringen|umzubringen|toten|zu toten)"
     r"|ich bringe? mich (?:(?!nicht|nie)\w+ )?um|mir (?:selbst )?das leben (?:zu )?nehmen)\b"),
    ("de", "sterben", r"\b(?:will|mochte|wurde gern|wurde lieber) (?:(?!nicht|nie|noch)\w+ ){0,2}"
     r"(?:sterben|tot sein)\b|\bware (?:lieber |einfach )?tot\b"),
    ("de", "nicht_mehr_leben", r"\b(?:will|mochte|kann) nicht mehr leben\b"
     r"|\b(?:keinen sinn|keinen grund) mehr,? zu leben\b|\bich bin lebensmude\b"),
    ("de", "suizid", r"\b(?:selbstmord|suizid|selbstverletz)\w*|\b(?:mich|ich) ritz(?:e|en)\b"),

    ("nl", "wil_dood", r"\bik wil (?:gewoon |echt |liever |het liefst )?"
     r"(?:dood(?:gaan)?|sterven|er niet meer zijn)\b"),
    ("nl", "niet_meer_leven", r"\b(?:wil|zin om) niet meer (?:te )?leven\b"
     r"|\bgeen zin meer (?:in|om te) leven\b|\ber een einde? aan maken\b"
     r"|\been einde? aan mijn leven\b"),
    ("nl", "zelfmoord", r"\b(?:zelfmoord\w*|suicida(?:al|le)|zelfbeschadig\w*"
     r"|mezelf (?:van kant maken|iets aandoen|doden|om het leven brengen|snijden))\b"),

    ("it", "voglio_morire", r"\b(?:voglio|vorrei|ho voglia di) (?:solo )?"
     rf"(?:morire|essere mort[oa])\b{_IT_IDIOM}"),
    ("it", "uccidermi", r"\b(?:(?:voglio|vorrei|devo|vado a|penso di|pensando di|ho voglia di)"
     r" (?:uccidermi|ammazzarmi|suicidarmi|togliermi la vita)"
     r"|mi (?:voglio|vado a) (?:uccidere|ammazzare|suicidare|togliere la vita))\b"),
    # "farla finita con lo zucchero" is quitting sugar.
    ("it", "farla_finita", r"\bfarla finita\b(?! con (?!la vita|tutto))"
     r"|\b(?:voglio|vorrei) farmi del male\b|\bautolesion\w*"),
    ("it", "suicidio", r"\b(?:suicidarmi|pensieri suicidi"
     r"|(?:penso|pensando|pensare|idee) (?:al |di |a )?(?:suicidio|suicidarmi))\b"),
    ("it", "non_voglio_vivere", r"\bnon (?:voglio (?:piu )?|ce la faccio (?:piu )?a )vivere\b"
     r"(?! (?:a|in|con|senza|qui|li|la)\b)|\b(?:nessun motivo|non ha senso) (?:per )?vivere\b"),
)
# fmt: on

# Every rule starts at a word boundary; testing that once up front makes the search much faster.
_COMBINED = re.compile(
    r"\b(?:" + "|".join(f"(?P<r{i}>{p})" for i, (_, _, p) in enumerate(_RULES)) + ")"
)

# A match right after a negation is not a statement of intent: "i'm not going to kill myself",
# "i don't want to die", "no quiero morir". "Trying not to ..." and "can't" do not negate.
_EN_GLUE = (
    "ever|even|really|actually|truly|want|wanna|wanting|going|gonna|to|try|trying|plan|planning"
    "|feel|feeling|felt|think|thinking|thought|about|of|need|be|been|being|would|will|do|have"
    "|had|mean|intend|just|am"
)
_BLOCKERS: dict[str, re.Pattern[str]] = {
    "en": re.compile(
        # "why not just end it all" suggests rather than negates.
        r"\b(?:(?<!why )(?<!why just )not(?! to\b)|never|no longer|don'?t|doesn'?t|didn'?t"
        r"|won'?t|wouldn'?t|isn'?t|aren'?t|wasn'?t|weren'?t|haven'?t|hasn'?t|hadn'?t"
        r"|shouldn'?t|ain'?t) "
        rf"(?:(?:{_EN_GLUE}) )*$"
        # "my legs want to die after leg day"
        r"|\b(?:legs|arms|quads|glutes|hamstrings|calves|abs|muscles|body|lungs|feet|knees"
        r"|shoulders|phone|battery|laptop|plants?) (?:(?:just|literally|really|kinda|already) )*$"
    ),
    "es": re.compile(r"\b(?:no|nunca|jamas) (?:tengo |me )?$"),
    "pt": re.compile(r"\b(?:nao|nunca|jamais) (?:tenho |me )?$"),
    "fr": re.compile(r"\b(?:pas|jamais|plus|aucune?) $"),
    "it": re.compile(r"\b(?:non|mai) (?:ho |mi )?$"),
}


def detect_crisis(text: str) -> CrisisSignal | None:
    """The first explicit crisis statement in `text`, or None."""
    normalized = normalize(text)
    folded = _fold(normalized)
    pos = 0
    while match := _COMBINED.search(folded, pos):
        assert match.lastgroup is not None  # every alternative is a named group
        language, rule, _ = _RULES[int(match.lastgroup[1:])]
        blocker = _BLOCKERS.get(language)
        if not (blocker and blocker.search(folded, max(0, match.start() - 200), match.start())):
            return CrisisSignal(language, rule, normalized[match.start() : match.end()])
        pos = match.start() + 1
    return None
