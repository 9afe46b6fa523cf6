"""Templates: subject, HTML and text, rendered in Jinja2's sandbox, checked when saved.

The sandbox (``SandboxedEnvironment``, Jinja2 >= 3.1.6: older ones have
escapes) keeps a template from reaching Python; ``StrictUndefined`` makes a
missing variable an error instead of an empty string. A variable a template
uses must be one Sluice provides (``KNOWN_VARIABLES``, or ``custom.<key>``):
an unknown one is refused at save with its field and line. At send time an
empty contact field fails that one send, naming the variable, unless the
template gave it a ``default`` (``{{ first_name | default("there") }}``):
a message is never sent with a hole in it.

MailWizz's merge tags (``[FNAME]``, ``[UNSUBSCRIBE_URL]``, ...) are read as
the same variables, so a template copied from MailWizz works as it is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from policy.scenarios.contacts import Contact

FIELDS = ("subject", "html", "text")
CONTACT_VARIABLES = frozenset(
    {
        "email", "first_name", "last_name", "language", "country", "category", "tier",
        "score", "validation_score", "timezone", "tags", "custom",
    }
)  # fmt: skip
# Given by the sender at send time, not by the contact.
SEND_VARIABLES = frozenset({"unsubscribe_url", "first_line", "scenario", "step", "tenant"})
KNOWN_VARIABLES = CONTACT_VARIABLES | SEND_VARIABLES
# A contact's AI-written first line for a template is kept in its custom fields
# under this prefix and the template's name (scheduler/personalization.py), and
# is the ``first_line`` variable when that template renders.
FIRST_LINE_PREFIX = "first_line:"
MAILWIZZ_TAGS = {
    "FNAME": "first_name",
    "LNAME": "last_name",
    "EMAIL": "email",
    "SUBSCRIBER_EMAIL": "email",
    "UNSUBSCRIBE_URL": "unsubscribe_url",
    "UNSUBSCRIBE_LINK": "unsubscribe_url",
    "COUNTRY": "country",
}
_TAG = re.compile(r"\[([A-Z][A-Z_]*)\]")


@dataclass(frozen=True)
class Template:
    tenant: str
    name: str
    subject: str
    html: str = ""
    text: str = ""
    language: str = ""  # "" = no language (the catch-all variant)
    category: str = ""
    updated: float = 0.0


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


class TemplateError(ValueError):
    """What is wrong, and where: the field, the variable when one is named, the line."""

    def __init__(self, reason: str, field: str, variable: str = "", line: int | None = None):
        where = f"{field}" + (f" line {line}" if line else "")
        super().__init__(f"{where}: {reason}")
        self.reason, self.field, self.variable, self.line = reason, field, variable, line


# Templates are operators' input, and the sandbox bounds only ranges: a render may
# build no value larger than these, so no template takes the daemon's memory.
MAX_PART = 2 * 1024 * 1024  # characters of one rendered part
MAX_BUILT = 1_000_000  # items one "*" may build (a string, a list)
MAX_POWER_BITS = 4096  # bits one "**" may build


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * n > MAX_BUILT:
                        raise SecurityError(f"'*' would build {len(seq) * n:,} items")
        elif isinstance(left, int) and isinstance(right, int) and right > 0:
            if left.bit_length() * right > MAX_POWER_BITS:
                raise SecurityError(f"'**' would build a number of over {MAX_POWER_BITS} bits")
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return _Sandbox(
        undefined=jinja2.StrictUndefined, autoescape=autoescape, keep_trailing_newline=True
    )


_PLAIN = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@functools.lru_cache(maxsize=2048)  # a template's same source at every send
def from_mailwizz(source: str) -> str:
    """MailWizz's known merge tags as Jinja2 variables; other brackets are left alone."""
    return _TAG.sub(
        lambda m: (
            "{{ " + MAILWIZZ_TAGS[m.group(1)] + " }}" if m.group(1) in MAILWIZZ_TAGS else m.group(0)
        ),
        source,
    )


def _source(t: Template, field: str) -> str:
    return from_mailwizz(str(getattr(t, field)))


@functools.lru_cache(maxsize=2048)
def _compiled(html: bool, source: str) -> Callable[..., str]:
    """Compiling costs a millisecond and more; a scenario renders one source thousands of times."""
    if not any(mark in source for mark in ("{{", "{%", "{#")):
        # No Jinja2 syntax (an empty text part, a fixed subject): it renders to itself,
        # and skips the context a render builds (a few microseconds at every send).
        fixed = source.replace("\r\n", "\n").replace("\r", "\n")  # as Jinja2's lexer does
        return lambda **_: fixed
    compiled = (_HTML if html else _PLAIN).from_string(source)
    # Its globals are a ChainMap over the environment's, copied into every render's context
    # key by key; one plain dict of the same names costs a tenth (they never change here).
    compiled.globals = dict(compiled.globals)
    return functools.partial(_bounded, compiled)


def _bounded(compiled: jinja2.Template, **values: Any) -> str:
    """``compiled.render(**values)``, stopped once the part passes MAX_PART characters."""
    pieces, size = [], 0
    for piece in compiled.root_render_func(compiled.new_context(values)):
        size += len(piece)
        if size > MAX_PART:
            raise SecurityError(f"the part renders to more than {MAX_PART:,} characters")
        pieces.append(piece)
    return "".join(pieces)


def _parse(t: Template, field: str) -> nodes.Template:
    try:
        return _PLAIN.parse(_source(t, field))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", field, line=exc.lineno) from exc


def variables_of(t: Template) -> dict[str, set[str]]:
    """Each field's variables (``custom.key`` for a key of the custom fields)."""
    out: dict[str, set[str]] = {}
    for field in FIELDS:
        tree = _parse(t, field)
        names = set(meta.find_undeclared_variables(tree))
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            key = _custom_key(node)
            if key is not None:
                names.add(f"custom.{key}")
        out[field] = names
    return out


def _custom_key(node: nodes.Node) -> str | None:
    """``key`` of ``custom.key`` or ``custom["key"]``, else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.attr if node.node.name == "custom" else None
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name):
        arg = node.arg
        if node.node.name == "custom" and isinstance(arg, nodes.Const):
            return str(arg.value)
    return None


def check(t: Template) -> list[TemplateError]:
    """Everything wrong with a template, for the answer to a save."""
    errors: list[TemplateError] = []
    if not t.subject.strip() or "\n" in t.subject or "\r" in t.subject:
        errors.append(TemplateError("the subject must be one non-empty line", "subject"))
    if not t.html.strip() and not t.text.strip():
        errors.append(TemplateError("a template needs an HTML or a text part", "text"))
    for field in FIELDS:
        try:
            tree = _parse(t, field)
        except TemplateError as exc:
            errors.append(exc)
            continue
        unknown = set(meta.find_undeclared_variables(tree)) - KNOWN_VARIABLES
        lines: dict[str, int] = {}
        for name_node in tree.find_all(nodes.Name):
            lines.setdefault(name_node.name, name_node.lineno)
        for name in sorted(unknown, key=lambda n: (lines.get(n, 0), n)):
            known = ", ".join(sorted(KNOWN_VARIABLES))
            reason = f"unknown variable {name!r} (known: {known}, custom.<key>)"
            errors.append(TemplateError(reason, field, name, lines.get(name)))
    return errors


def render(t: Template, values: Mapping[str, Any]) -> Rendered:
    """The three parts for ``values``; TemplateError naming the variable that was missing."""
    out = {}
    for field in FIELDS:
        try:
            out[field] = _compiled(field == "html", _source(t, field))(**values)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{exc.message}: no value and no default", field) from exc
        except jinja2.TemplateError as exc:  # a sandbox refusal included
            raise TemplateError(str(exc), field) from exc
        except Exception as exc:
            # The template's own code on this contact's values ("{{ score + 1 }}" with no
            # score, a division by zero): that send fails with the reason; an error let
            # through would leave its operation claimed and retried for ever.
            raise TemplateError(f"{type(exc).__name__}: {exc}", field) from exc
    if not out["subject"].strip():
        raise TemplateError("the subject renders empty", "subject")
    return Rendered(out["subject"].strip(), out["html"], out["text"])


def first_line_key(template: str) -> str:
    """The custom field that holds a contact's first line for ``template``."""
    return f"{FIRST_LINE_PREFIX}{template}"


def contact_values(c: Contact, extra: Mapping[str, Any], template: str = "") -> dict[str, Any]:
    """The variables a template sees; an empty field is absent, so ``default`` applies.

    ``first_line`` is the contact's line for ``template`` unless ``extra`` gives one.
    """
    values: dict[str, Any] = {
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "language": c.language,
        "country": c.country,
        "category": c.category,
        "tier": c.tier,
        "score": c.score,
        "validation_score": c.validation_score,
        "timezone": c.timezone,
        "tags": list(c.tags),
        "custom": dict(c.custom),
        "first_line": c.custom.get(first_line_key(template)) if template else None,
    }
    values = {k: v for k, v in values.items() if v not in ("", None)}
    values.update({k: v for k, v in extra.items() if v not in ("", None)})
    return values


def choose(
    variants: Sequence[Template], language: str, category: str, default_language: str
) -> Template | None:
    """The variant for a contact: category + language, language, the default language, any."""
    by_key = {(v.category, v.language): v for v in variants}
    for key in (
        (category, language),
        ("", language),
        (category, default_language),
        ("", default_language),
        ("", ""),
    ):
        if key[1] or key == ("", ""):
            if key in by_key:
                return by_key[key]
    return None
