"""AI first lines, the pure part: facts, prompt and cache key, each output check, the budget."""

from __future__ import annotations

from dataclasses import replace

import pytest

from policy.personalization import budget, checks, prompt
from policy.personalization.language import plausible
from policy.scenarios.contacts import Contact

ANN = Contact(
    "acme", "ann@ann-cuisine.fr", "Ann", "Martin", language="fr", country="FR",
    category="blogger", tier=2, score=88,
    custom={"blog": "Cuisine de Lyon", "posts": 120, "first_line:intro": "old", "tags": [1]},
)  # fmt: skip
BRIEF = prompt.Brief("intro", "Mention their blog and why our kitchen tools fit.", "Bonjour !")
FACTS = [*prompt.facts_of(ANN).values(), BRIEF.instruction]


def ok(text: str, language: str = "fr") -> str:
    return checks.check(text, language=language, inputs=FACTS, min_chars=20, max_chars=220)


def test_facts_leave_out_ratings_lines_and_nested_values():
    facts = prompt.facts_of(ANN)
    assert facts == {
        "first_name": "Ann", "last_name": "Martin", "country": "FR", "category": "blogger",
        "website": "ann-cuisine.fr", "blog": "Cuisine de Lyon", "posts": "120",
    }  # fmt: skip


def test_the_cache_key_changes_with_every_input_and_only_then():
    p = prompt.build("sys", "m1", BRIEF, ANN, 220)
    assert p.key == prompt.build("sys", "m1", BRIEF, ANN, 220).key
    assert len(p.key) == 64 and "Cuisine de Lyon" in p.user and "French" in p.user
    others = [
        prompt.build("sys2", "m1", BRIEF, ANN, 220),
        prompt.build("sys", "m2", BRIEF, ANN, 220),
        prompt.build("sys", "m1", replace(BRIEF, instruction="Other."), ANN, 220),
        prompt.build("sys", "m1", BRIEF, replace(ANN, first_name="Anne"), 220),
        prompt.build("sys", "m1", BRIEF, replace(ANN, language="en"), 220),
    ]
    assert len({p.key, *(o.key for o in others)}) == 6
    # Ratings and stored lines are not inputs: changing them costs nothing.
    same = replace(ANN, score=10, custom={**ANN.custom, "first_line:intro": "new"})
    assert prompt.build("sys", "m1", BRIEF, same, 220).key == p.key


def test_a_good_line_passes():
    assert ok("J'ai adoré votre blog Cuisine de Lyon et ses 120 recettes si généreuses.") == ""
    line = "I really enjoyed the recipes on your blog, Ann, and the way you write about them."
    assert ok(line, "en") == ""
    assert checks.clean('  "Votre blog est une vraie mine de recettes."  ') == (
        "Votre blog est une vraie mine de recettes."
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Trop court.", "characters"),
        ("Votre blog " + "est superbe " * 30, "characters"),
        ("Votre blog est superbe.\nEt vos recettes aussi.", "more than one line"),
        ("Bonjour {{ first_name }}, votre blog est superbe.", "template syntax"),
        ("Bonjour [FNAME], votre blog est vraiment superbe.", "template syntax"),
        ("Votre blog est superbe {% if x %}vraiment{% endif %}.", "template syntax"),
        ("Écrivez-moi à jean@tools.example pour la suite.", "email address"),
        ("Votre blog sur https://ann-cuisine.fr est superbe.", "link"),
        ("Votre blog www.ann-cuisine.fr est superbe et vivant.", "link"),
        ("Votre site ann-cuisine.fr est vraiment superbe.", "link"),
        ("Appelez-moi au 06 12 34 56 78 pour en parler.", "phone number"),
        ("Vos 15 ans de cuisine sur le blog sont une référence.", "the number 15"),
        ("J'ai vu votre passage chez Ducasse, c'est superbe.", "'Ducasse'"),
        ("I really loved the recipes on your blog and the photos.", "language"),
    ],
)
def test_each_check_refuses_its_bad_case(line, reason):
    assert reason in ok(line)


def test_a_cut_answer_is_refused_and_german_nouns_are_not_names():
    cut = checks.check("Votre blog est superbe et", language="fr", inputs=FACTS,
                       min_chars=5, max_chars=220, stop_reason="max_tokens")  # fmt: skip
    assert "max_tokens" in cut
    german = "Ihr Blog über die Küche aus Lyon hat mich sehr beeindruckt."
    assert checks.check(german, language="de", inputs=FACTS, min_chars=20, max_chars=220) == ""
    # A sentence may start with any word; a name after the first word must be known.
    assert ok("Merci pour votre blog. Vos recettes de Lyon sont superbes.") == ""


def test_language_plausibility_by_stopwords():
    assert plausible("Ich habe Ihren Artikel über die Küche gelesen.", "de")
    assert plausible("Me encantó su artículo sobre la cocina vasca.", "es")
    assert plausible("Ho letto il tuo articolo sulla cucina di Lione.", "it")
    assert plausible("Ik heb je artikel over de keuken gelezen.", "nl")
    assert plausible("Eu adorei o seu artigo sobre a cozinha.", "pt")
    assert not plausible("I read your article about the kitchen.", "de")
    assert plausible("Anything at all goes here.", "ja")  # a language not known: not checked


def test_the_budget_admits_what_fits_in_order():
    assert budget.day_of(0) == "1970-01-01"
    assert budget.estimate(300, 150) == 251
    assert budget.admitted([100, 100, 100], budget=1000, spent=750) == 2
    assert budget.admitted([100], budget=1000, spent=1000) == 0
    assert budget.admitted([], budget=0, spent=0) == 0
