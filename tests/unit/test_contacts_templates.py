"""Contacts and templates as pure code: parsing with named errors, the filter, the sandbox."""

from __future__ import annotations

import pytest

from policy.scenarios.contacts import Contact, ContactFilter, matches, normalise_email, parse
from policy.scenarios.templates import (
    Template,
    TemplateError,
    check,
    choose,
    contact_values,
    render,
    variables_of,
)


def test_addresses_are_normalised_or_refused_with_the_reason():
    assert normalise_email("  Anna@Exämple.COM ") == "anna@xn--exmple-cua.com"
    for bad, why in [
        ("no-at.example", "not an address"),
        ("a..b@x.example", "before @"),
        ("a@localhost", "domain name"),
        ("a@-x.example", "domain name"),
    ]:
        with pytest.raises(ValueError, match=why):
            normalise_email(bad)


def test_parse_names_every_bad_field_at_once():
    contact, errors = parse(
        "acme",
        {"email": "a@b.example", "language": "french", "score": 140, "timezone": "Mars/Base",
         "custom": "[1]", "colour": "red"},
    )  # fmt: skip
    assert contact is None
    assert set(errors) == {"language", "score", "timezone", "custom", "colour"}
    assert "ISO 639-1" in errors["language"] and "0 to 100" in errors["score"]
    assert parse("acme", {"first_name": "x"})[1] == {"email": "required"}
    _, words = parse("acme", {"email": "a@b.example", "score": "high", "tier": "top"})
    assert words == {
        "score": "'high' is not a number from 0 to 100",
        "tier": "'top' is not a whole number from 0 to 10",
    }
    ok, none = parse(
        "acme",
        {"email": "A@B.example", "language": "FR", "country": "fr", "tier": "2", "score": "55.5",
         "deliverable": "yes", "tags": "vip; Paris", "custom": '{"company": "Acme"}'},
    )  # fmt: skip
    assert none == {} and ok is not None
    assert (ok.email, ok.language, ok.country, ok.tier, ok.score, ok.deliverable) == (
        "a@b.example", "fr", "FR", 2, 55.5, True,
    )  # fmt: skip
    assert ok.tags == ("vip", "paris") and ok.custom == {"company": "Acme"}


def test_the_filter_states_each_condition():
    c = Contact("acme", "a@b.example", language="fr", country="FR", category="media",
                score=60, validation_score=90, deliverable=True, tags=("vip", "paris"))  # fmt: skip
    assert matches(c, ContactFilter())
    assert matches(c, ContactFilter(tags=("vip",), languages=("fr", "en"), min_score=60))
    assert not matches(c, ContactFilter(tags=("vip", "rome")))
    assert not matches(c, ContactFilter(min_validation_score=95))
    assert not matches(c, ContactFilter(excluded_domains=("b.example",)))
    assert not matches(Contact("acme", "x@y.example"), ContactFilter(deliverable_only=True))
    assert not matches(Contact("acme", "x@y.example", status="do_not_contact"), ContactFilter())


def tpl(**kw) -> Template:
    fields = {"tenant": "acme", "name": "intro", "subject": "Hi", "text": "Hello", **kw}
    return Template(**fields)


def test_unknown_variables_and_syntax_errors_are_named_at_save():
    errors = check(tpl(subject="Hi {{ first_name }}", text="Line one\n{{ frist_name }}\n"))
    assert [(e.field, e.variable, e.line) for e in errors] == [("text", "frist_name", 2)]
    assert "unknown variable 'frist_name'" in str(errors[0])
    [broken] = check(tpl(html="<p>{% if %}</p>"))
    assert broken.field == "html" and broken.line == 1
    assert check(tpl(subject="two\nlines"))[0].field == "subject"
    loop = tpl(text="{% for t in tags %}{{ t }} {% endfor %}{{ custom.company }}")
    assert check(loop) == []
    assert variables_of(loop)["text"] == {"tags", "custom", "custom.company"}


def test_mailwizz_tags_and_defaults_render_and_an_empty_field_fails_by_name():
    t = tpl(
        subject="[FNAME], a word",
        text='Hello {{ first_name | default("there") }} [UNSUBSCRIBE_URL] [NOT_A_TAG]',
        html="<p>{{ custom.company }} &amp; {{ last_name }}</p>",
    )
    c = Contact("acme", "a@b.example", first_name="Anna", last_name="<b>", custom={"company": "A"})
    out = render(t, contact_values(c, {"unsubscribe_url": "https://u.example/x"}))
    assert out.subject == "Anna, a word"
    assert out.text == "Hello Anna https://u.example/x [NOT_A_TAG]"
    assert out.html == "<p>A &amp; &lt;b&gt;</p>"  # HTML escapes the contact's fields
    nameless = Contact("acme", "b@b.example", last_name="X", custom={"company": "B"})
    with pytest.raises(TemplateError, match="first_name"):
        render(t, contact_values(nameless, {"unsubscribe_url": "u"}))
    greeted = render(tpl(text='Hello {{ first_name | default("there") }}'), {})
    assert greeted.text == "Hello there"


@pytest.mark.parametrize("source", ["Fixed", "a\r\nb\rc\n", "<p>&amp; <b>{x}</b> }}</p>\n"])
def test_a_part_without_jinja_syntax_renders_as_jinja_would(source: str) -> None:
    from jinja2.sandbox import SandboxedEnvironment

    out = render(tpl(subject="Hi", html=source, text=source), {})
    for autoescape, got in ((True, out.html), (False, out.text)):
        env = SandboxedEnvironment(autoescape=autoescape, keep_trailing_newline=True)
        assert got == env.from_string(source).render()


def test_the_sandbox_refuses_to_reach_python():
    escape = tpl(text="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        render(escape, {})


@pytest.mark.parametrize(
    ("html", "values", "reason"),
    [
        ("{{ score + 1 }}", {"score": None}, "TypeError: unsupported operand"),
        ("{{ 10 / score }}", {"score": 0}, "ZeroDivisionError"),
        ("{{ range(10 ** 6) | list }}", {}, "OverflowError: Range too big"),
    ],
)
def test_a_template_that_fails_on_a_contacts_values_is_a_named_template_error(
    html: str, values: dict, reason: str
) -> None:
    # Not only Jinja2's own errors: anything the template's code raises fails that send.
    with pytest.raises(TemplateError, match=f"^html: {reason}"):
        render(tpl(html=html), values)


@pytest.mark.parametrize(
    "html",
    [
        "{{ 'x' * 10 ** 9 }}",
        "{{ 10 ** 8 * [0] }}",
        "{{ 10 ** (10 ** 9) }}",
        "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}",
    ],
)
def test_a_template_cannot_build_a_value_that_takes_the_daemons_memory(html: str) -> None:
    with pytest.raises(TemplateError, match=r"^html: .*(would build|renders to more than)"):
        render(tpl(html=html), {})


def test_arithmetic_and_repetition_within_the_bounds_still_render():
    html = "{{ 2 * 3 }} {{ 2 ** 10 }} {{ '=' * 5 }} {{ [1] * 2 }} {{ score * 2 }}"
    assert render(tpl(html=html), {"score": 1.5}).html == "6 1024 ===== [1, 1] 3.0"
    long = "{% for i in range(1000) %}{{ 'y' * 100 }}{% endfor %}"
    assert len(render(tpl(html=long), {}).html) == 100_000


def test_language_fallback():
    fr_media = tpl(language="fr", category="media", text="fr media")
    fr, en, any_ = tpl(language="fr", text="fr"), tpl(language="en", text="en"), tpl(text="x")
    variants = [fr_media, fr, en, any_]
    assert choose(variants, "fr", "media", "en") is fr_media
    assert choose(variants, "fr", "blog", "en") is fr
    assert choose(variants, "de", "blog", "en") is en
    assert choose([fr, any_], "de", "", "en") is any_
    assert choose([fr], "de", "", "en") is None
