from __future__ import annotations

import pytest

from engine.crisis import CrisisSignal, detect_crisis, normalize

ENGLISH_POSITIVES = [
    "I want to kill myself",
    "i wanna kill my self",
    "kms",
    "im gonna kms",
    "im going to end it all",
    "I don't want to be alive anymore",
    "dont want to be alive anymore",
    "I want to hurt myself",
    "I've been thinking about suicide",
    "I feel suicidal",
    "I cut myself again last night",
    "I've started self harming again",
    "self-harm is the only thing that helps",
    "I'm going to take my own life",
    "I'd be better off dead",
    "everyone would be better off without me",
    "There's no reason to live",
    "I have nothing to live for",
    "I wish I was dead",
    "I wish I could just die",
    "I wish I had never been born",
    "I want to die",
    "I just want to die.",
    "i wanna die lol",
    "honestly i want to dieeee",
    "I want to die after what happened",
    "I'm going to overdose on purpose",
    "I'm planning to take all my pills",
    "I'm going to jump off a bridge",
    "i'm going to throw myself in front of a train",
    "I WANT TO KILL MYSELF",
    "I'm thinking about killing myself",
    "I tried to kill myself last year",
    "I should've killed myself",
    "Life isn't worth living",
    "life isnt worth it anymore",
    "i want to unalive myself",
    "I've been having suicidal thoughts",
    "I attempted suicide in 2019",
    "thinking of ending my life",
    "I want to end my life",
    "I'm going to hang myself",
    "sometimes I think about hanging myself",
    "I want to slit my wrists",
    "I don't want to wake up tomorrow",
    "I hope I never wake up",
    "I'm so tired of being alive",
    "honestly i'm done with life.",
    "i hurt myself on purpose again",
    "I'm not sure I want to live anymore",
    "I'm not okay, I want to die",
    "I want to harm myself",
    "I'm suicidal but I'll be fine",
    "i dont want to live like this anymore",
    "I'm trying not to kill myself",  # "not to" is a struggle, not a negation
    "im not gonna lie i want to die",
    "i want to die. i'm not going to lie",
    "I keep thinking I should just kill myself",
    "i'll just walk into traffic",
    "i might just drive my car off a bridge",
    "i'm going to od on my sleeping pills",
    "i took the whole bottle of tylenol",
    "i overdosed last night",
    "i'm going to blow my brains out",
    "i wish i could go to sleep and never wake up",
    "nobody would miss me if i killed myself",
    "I dont wanna be alive",
    "i dont want to be here anymore",
    "I can't do this anymore. I want to kill myself.",
    "that class was suicide lol",  # flagged on purpose: bare "suicide" is not an idiom we know
    # Obfuscated and look-alike text.
    "i want to k\u200bill myself",
    "i want to d\u00adie",
    "I don\u2019t want to live anymore",
    "I\u2019m going to kill myself",
    "\uff49 \uff57\uff41\uff4e\uff54 \uff54\uff4f \uff44\uff49\uff45",
    "su\u200bi\u200bcidal",
    "I want to kill myself \U0001f61e",
    # "why not" suggests, it does not negate
    "why not just kill myself",
    "Why not end it all",
    "maybe I should not be alive",
    "I dont deserve to live",
]

ENGLISH_NEGATIVES = [
    "why not try the new plan",
    "This workout is killing me",
    "You absolutely killed it today!",
    "I killed it at the gym today",
    "That was a killer workout",
    "I'm dying to try that new recipe",
    "I'm dead tired after the night shift",
    "Remind me to kill the lights by 10pm so I sleep better",
    "I hurt my back deadlifting",
    "The suspense is killing me, when does the next module unlock?",
    "I'd die for this cake",
    # A real running drill (also "suicides", "suicide runs"): never a statement about oneself.
    "Coach had us run suicide sprints today",
    "We did suicides at basketball practice",
    "I use a suicide grip on bench, is that bad?",
    "Skipping leg day is social suicide at my gym",
    "My deadlift PR is 140kg",
    "My phone died so I missed the check-in",
    "That joke killed me",
    "I'm trying to cut carbs",
    "I cut myself a slice of cake",
    "I need to cut myself some slack",
    "I'm cutting myself off from sugar",
    "I cut myself shaving this morning",
    "I cut myself while chopping onions",
    "I could kill for a pizza right now",
    "My legs want to die after leg day",  # body parts and devices "want to die" all the time
    "I hurt myself lifting yesterday",
    "I'll hurt myself if I try to lift that",
    "I ran 10 kms this morning",
    "only a few kms left to go",
    "I don't want to die of a heart attack like my dad",
    "I want to diet properly this time",
    "I'm going to die after this hill workout",
    "I nearly died laughing at that video",
    "I want to take my life back",
    "I want to take my life to the next level",
    "I'm tired of living paycheck to paycheck",
    "I don't want to live in this city anymore",
    "I don't want to live forever, just healthier",
    "My battery is dead",
    "The dead hangs are killing my grip",
    "I'm killing myself trying to hit my protein goal",
    "I'm not suicidal, just really tired",  # negated right before the match
    "Overdosed on caffeine this morning lol",
    "Is there a risk of overdose with melatonin?",
    "I took all my pills this morning like the doctor said",
    "My knees are killing me",
    "The plank challenge nearly killed me",
    "Killer abs by summer!",
    "I nearly killed myself tripping over the dumbbells",
    "We're going to jump off the cliff into the lake this weekend",
    "I'm ready to die on this hill: carbs are not evil",
    "Cross my heart and hope to die",
    "I always shoot myself in the foot by skipping breakfast",
    "I'll shoot myself a reminder email",
    "I'm gonna hang myself upside down on the inversion table",
    "I drown myself in coffee every morning",
    "This diet will kill my self-esteem",
    "No point in going on this diet if I cheat every day",
    "Our run club is doing a 5k for suicide prevention month",
    "I went out at a suicidal pace in the 5k",
    "drop dead gorgeous outfit for the wedding",
    "dying for a coffee",
    "I'm not going to kill myself over one bad meal",
    "I need to take some pressure off myself",
    "Deadly heat today, skipping the long run",
    "I want to die laughing at 100, healthy and happy",
    "I could kill myself laughing",
    "I would never hurt myself",
    "I hurt myself again at the gym",
    "Hang myself from the pull-up bar for 30 seconds, then rest",
    "I almost overdosed on coffee",
    "The program killed my self esteem",
    "I hate living alone",
    "I don't want to wake up at 5am tomorrow",
    "I never wake up on time",
    "My body wants to die after leg day",
    "I want this to end, this diet is torture",
    "I'm going to jump in the pool after my run",
    "I cut myself back to one coffee a day",
    "I'm done with life coaching apps",
    "I hate existing in this heat",
]

OTHER_POSITIVES = [
    ("es", "quiero morir"),
    ("es", "Me quiero matar"),
    ("es", "ya no quiero vivir"),
    ("es", "tengo pensamientos suicidas"),
    ("es", "quiero quitarme la vida"),
    ("es", "Quiero morirme"),
    ("es", "estaría mejor muerta"),
    ("es", "estaria mejor muerta"),
    ("pt", "quero me matar"),
    ("pt", "quero morrer"),
    ("pt", "não quero mais viver"),
    ("pt", "nao quero mais viver"),
    ("pt", "penso em suicídio"),
    ("pt", "vou tirar minha própria vida"),
    ("fr", "je veux mourir"),
    ("fr", "je vais me suicider"),
    ("fr", "j'ai des idées suicidaires"),
    ("fr", "j\u2019ai des idees suicidaires"),
    ("fr", "je ne veux plus vivre"),
    ("fr", "j'ai envie de mourir"),
    ("fr", "Je veux me tuer"),
    ("de", "ich will mich umbringen"),
    ("de", "ich will nicht mehr leben"),
    ("de", "Ich möchte sterben"),
    ("de", "Ich mochte sterben"),
    ("de", "ich habe Selbstmordgedanken"),
    ("de", "ich bring mich um"),
    ("de", "ich will einfach nur sterben"),
    ("nl", "ik wil dood"),
    ("nl", "ik wil niet meer leven"),
    ("nl", "ik denk aan zelfmoord"),
    ("nl", "ik wil mezelf van kant maken"),
    ("nl", "ik voel me suïcidaal"),
    ("it", "voglio morire"),
    ("it", "voglio farla finita"),
    ("it", "penso al suicidio"),
    ("it", "voglio uccidermi"),
    ("it", "non voglio più vivere"),
    ("it", "mi voglio ammazzare"),
    ("it", "non ce la faccio più a vivere"),
]

OTHER_NEGATIVES = [
    "me muero de hambre",
    "este entrenamiento me está matando",
    "no quiero morir joven",
    "me muero por probar esa receta",
    "no quiero vivir en Madrid",
    "morri de rir com esse vídeo",
    "esse treino está me matando",
    "não quero morrer cedo",
    "vou me matar de treinar hoje",
    "je meurs de faim",
    "cette séance m'a tué",
    "je n'ai pas envie de mourir jeune",
    "je suis mort de rire",
    "das Training bringt mich um",
    "ich sterbe vor Hunger",
    "ich will nicht sterben",
    "ich bin todmüde",
    "ik ga dood van het lachen",
    "deze training maakt me kapot",
    "ik ben doodmoe",
    "muoio dal ridere",
    "questo allenamento mi uccide",
    "non voglio morire giovane",
    "voglio farla finita con lo zucchero",
    "sono stanco morto",
    "no me quiero morir",
    "ich will noch nicht sterben",
    "ich bringe mich nicht um",
    "ik wil niet dood",
    "non voglio morire",
]


@pytest.mark.parametrize("text", ENGLISH_POSITIVES)
def test_english_crisis_statements_are_caught(text: str) -> None:
    signal = detect_crisis(text)
    assert signal is not None, text
    assert signal.language == "en"
    assert signal.rule
    assert signal.excerpt
    assert signal.excerpt in normalize(text)


@pytest.mark.parametrize("text", ENGLISH_NEGATIVES)
def test_english_everyday_talk_is_not_flagged(text: str) -> None:
    assert detect_crisis(text) is None


@pytest.mark.parametrize(("language", "text"), OTHER_POSITIVES)
def test_other_languages_are_caught(language: str, text: str) -> None:
    signal = detect_crisis(text)
    assert signal is not None, text
    assert signal.language == language
    assert signal.rule
    assert signal.excerpt in normalize(text)


@pytest.mark.parametrize("text", OTHER_NEGATIVES)
def test_other_languages_idioms_are_not_flagged(text: str) -> None:
    assert detect_crisis(text) is None


def test_every_language_has_positives_and_negatives() -> None:
    assert {language for language, _ in OTHER_POSITIVES} == {"es", "pt", "fr", "de", "nl", "it"}
    for language in ("es", "pt", "fr", "de", "nl", "it"):
        assert sum(lang == language for lang, _ in OTHER_POSITIVES) >= 3
    assert len(ENGLISH_POSITIVES) >= 45
    assert len(ENGLISH_NEGATIVES) >= 45
    assert len(OTHER_NEGATIVES) >= 12


def test_signal_names_the_rule_and_the_normalized_span() -> None:
    assert detect_crisis("Honestly?  I WANT to\u200b kill  MYSELF tonight") == CrisisSignal(
        language="en", rule="kill_myself", excerpt="kill myself"
    )


def test_excerpt_keeps_accents_even_though_matching_ignores_them() -> None:
    signal = detect_crisis("Je pense au SUICIDE, j'ai des idées suicidaires")
    assert signal is not None
    assert signal.language == "fr"
    assert signal.excerpt == "pense au suicide"
    assert detect_crisis("estaría mejor muerto") == CrisisSignal(
        "es", "quitarme_la_vida", "estaría mejor muerto"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("k\u200bi\u200cl\u200dl\u2060 my\ufeffself", "kill myself"),
        ("soft\u00adhyphen and variation\ufe0f selector", "softhyphen and variation selector"),
        ("tag\U000e0041\U000e007f chars", "tag chars"),
        ("I\u2019m \u2018fine\u2019 \u201csure\u201d", "i'm 'fine' 'sure'"),
        ("don\u00b4t", "don't"),
        ("\uff29\u3000\uff37\uff21\uff2e\uff34", "i want"),
        ("  lots\t of \n\n  space  ", "lots of space"),
        ("STRASSE Stra\u00dfe", "strasse strasse"),
        ("caf\u0065\u0301", "caf\u00e9"),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_empty_and_plain_messages() -> None:
    assert detect_crisis("") is None
    assert detect_crisis("   ") is None
    assert detect_crisis("What should I eat before a 10k?") is None
