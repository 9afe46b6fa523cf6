"""The unsubscribe page: one question and one button, in the reader's language.

The language is the best match of the request's Accept-Language among the
ones below (the languages whose "unsubscribe" wording the tracking rewrite
already recognises), English otherwise. The address is shown masked
(``j***@example.com``): whoever holds a forwarded message sees whose it
was, not the whole address.
"""

from __future__ import annotations

import html

# title/button, question, done, invalid link, failure
_TEXT: dict[str, tuple[str, str, str, str, str]] = {
    "en": (
        "Unsubscribe",
        "Stop receiving these emails at {address}?",
        "You are unsubscribed: {address} will not receive these emails any more.",
        "This link is not valid.",
        "Something went wrong. Please try again in a few minutes.",
    ),
    "de": (
        "Abmelden",
        "Keine weiteren E-Mails dieser Art an {address} erhalten?",
        "Sie sind abgemeldet: {address} erhält diese E-Mails nicht mehr.",
        "Dieser Link ist ungültig.",
        "Etwas ist schiefgelaufen. Bitte versuchen Sie es in ein paar Minuten erneut.",
    ),
    "fr": (
        "Se désabonner",
        "Ne plus recevoir ces e-mails à l'adresse {address} ?",
        "Vous êtes désabonné : {address} ne recevra plus ces e-mails.",
        "Ce lien n'est pas valide.",
        "Une erreur s'est produite. Veuillez réessayer dans quelques minutes.",
    ),
    "es": (
        "Darse de baja",
        "¿Dejar de recibir estos correos en {address}?",
        "Se ha dado de baja: {address} ya no recibirá estos correos.",
        "Este enlace no es válido.",
        "Algo ha fallado. Inténtelo de nuevo en unos minutos.",
    ),
    "it": (
        "Disiscriviti",
        "Non ricevere più queste email all'indirizzo {address}?",
        "Disiscrizione completata: {address} non riceverà più queste email.",
        "Questo link non è valido.",
        "Si è verificato un errore. Riprova tra qualche minuto.",
    ),
    "nl": (
        "Afmelden",
        "Deze e-mails niet meer ontvangen op {address}?",
        "U bent afgemeld: {address} ontvangt deze e-mails niet meer.",
        "Deze link is niet geldig.",
        "Er ging iets mis. Probeer het over een paar minuten opnieuw.",
    ),
    "pt": (
        "Cancelar inscrição",
        "Deixar de receber estes e-mails em {address}?",
        "Inscrição cancelada: {address} não receberá mais estes e-mails.",
        "Este link não é válido.",
        "Algo deu errado. Tente novamente em alguns minutos.",
    ),
    "ja": (
        "配信停止",
        "{address} へのこれらのメールの配信を停止しますか?",
        "配信を停止しました。{address} にこれらのメールは届かなくなります。",
        "このリンクは無効です。",
        "エラーが発生しました。数分後にもう一度お試しください。",
    ),
}
LANGUAGES = tuple(_TEXT)

_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body style="font:16px/1.5 sans-serif;max-width:32em;margin:3em auto;padding:0 1em">
{content}
</body></html>
"""
# The page's button posts what RFC 8058 clients post, plus where it came from.
_FORM = """<p>{question}</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<input type="hidden" name="via" value="page">
<button type="submit" style="font-size:1em;padding:.5em 1.5em">{button}</button></form>"""


def language(accept: str) -> str:
    """The best supported language of an Accept-Language header (RFC 9110 §12.5.4)."""
    best, best_q = "en", 0.0
    for position, item in enumerate(accept.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        # Earlier entries win ties: subtract a hair per position.
        q -= position * 1e-6
        if primary in _TEXT and q > best_q:
            best, best_q = primary, q
    return best


def mask(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _page(lang: str, content: str) -> str:
    return _PAGE.format(lang=lang, title=html.escape(_TEXT[lang][0]), content=content)


def ask(lang: str, address: str) -> str:
    title, question, *_ = _TEXT[lang]
    text = html.escape(question.format(address=mask(address)))
    return _page(lang, _FORM.format(question=text, button=html.escape(title)))


def done(lang: str, address: str) -> str:
    return _page(lang, f"<p>{html.escape(_TEXT[lang][2].format(address=mask(address)))}</p>")


def invalid(lang: str) -> str:
    return _page(lang, f"<p>{html.escape(_TEXT[lang][3])}</p>")


def failed(lang: str) -> str:
    return _page(lang, f"<p>{html.escape(_TEXT[lang][4])}</p>")
