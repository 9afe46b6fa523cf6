"""Text patterns of the bounce classifier, one ordered entry per reason.

Patterns are written in lower case for text that ``reasons`` has
already lowercased and tidied (addresses replaced by ``<addr>``, whitespace
collapsed).  They cover the wording of
common MTAs and mailbox providers in general terms, not any single message.
"""

from __future__ import annotations

import re

from .gate import gated

# Patterns are written in lower case and matched against lowercased text,
# which is markedly faster than case-insensitive matching.
_I = 0
# Ordered: earlier entries win.  The order puts causes that concern the
# sending side (authentication, reputation, listings) before address-level
# causes, because rejections for those often also say "recipient rejected".
TEXT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "authfailure",
        re.compile(
            r"\b(?:spf|dkim|dmarc)\b[^.\n]{0,60}?(?:fail|reject|policy|alignment|not pass|"
            r"did not|invalid|check|authenticat|unauthori|violat|record)"
            r"|unauthenticated (?:e-?mail|message|mail)|sender policy framework"
            r"|does not pass[^.\n]{0,30}authentication|authentication check"
            r"|not authorized to send on behalf|is not designated as permitted sender"
            r"|dmarc|5\.7\.(?:23|24|26|509)\b",
            _I,
        ),
    ),
    (
        "requireptr",
        re.compile(
            r"reverse (?:dns|lookup|hostname|dns lookup)|\bptr\b(?: record)?|\brdns\b"
            r"|cannot find your (?:reverse )?hostname|no dns (?:ptr|reverse)"
            r"|ip name (?:lookup|possibly) |does not have (?:a )?reverse"
            r"|(?:client|host) (?:name|host) (?:is )?unknown|unresolvable (?:ip|address|host)"
            r"|ip address[^.\n]{0,30}(?:does not|doesn'?t) resolve|5\.7\.25\b"
            r"|(?:hostname|domain|helo)[^\n]{0,40}(?:mismatch|does not match)[^.\n]{0,20}"
            r"(?:ip|client|address)",
            _I,
        ),
    ),
    (
        # A list manager or the recipient's own preferences refused the post.
        "filtered",
        re.compile(
            r"awaits? (?:the )?moderator|moderator(?:'s)? approval|\bnon-?member|members[- ]only"
            r"|not a (?:list )?member|not subscribed to|posting (?:is )?restricted"
            r"|restricted to (?:list )?members|list is moderated"
            r"|recipient(?:'s)? preferences|refused by (?:the )?recipient"
            r"|does not wish to receive|only (?:list )?(?:members|subscribers) (?:may|can) post"
            r"|not a subscriber|not (?:authori[sz]ed|allowed|permitted) to (?:post|send mail) to"
            r" (?:the|this) (?:\S+ )?list",
            _I,
        ),
    ),
    (
        "virusdetected",
        re.compile(
            r"\bvirus|malware|infected|trojan|\bworm\b|malicious (?:content|attachment)", _I
        ),
    ),
    (
        "blocked",
        re.compile(
            r"black\s?list|block\s?list|\bdnsbl|\brbl\b|spamhaus|spamcop|sorbs|barracudacentral"
            r"|uceprotect|(?<!not )\blisted (?:at|on|in|by)\b|is listed|are listed"
            r"|banned sending ip"
            r"|\b(?:ip|ip address|client|client host|network|sending server|sender ip)\b"
            r"[^.\n]{0,50}(?:blocked|banned|block|refused|rejected|denied|not allowed)"
            r"|not accepting connections|connections? (?:not accepted|refused) from"
            r"|refused to talk to me"
            r"|service refused|service refus[ée]"
            r"|blocked (?:by|using|because|due)|has been blocked|access denied[^.\n]{0,20}\bip\b"
            r"|service unavailable[;,] client host|your (?:ip|server|host)[^.\n]{0,40}"
            r"(?:blocked|listed|banned|block)|mail from [\d.]+ (?:refused|rejected)"
            r"|\b5\.7\.(?:51[0-9]|6[0-4]\d)\b|rejected by policy|dynamic ip|residential ip"
            r"|\bpbl\b|\bcbl\b|\bxbl\b|\bip\b[^\n]{0,40}\bblocked\b"
            r"|(?:low|poor|bad|insufficient) (?:ip |sender |domain )?reputation"
            r"|reputation of the sending|sender reputation|ip reputation",
            _I,
        ),
    ),
    (
        "spamdetected",
        re.compile(
            r"\bspam\b|\bspammy\b|junk mail|unsolicited|\buce\b|bulk (?:e-?)?mail|"
            r"classified as spam|spam content|looks like spam|content filter|"
            r"considered as? (?:spam|junk)|message content rejected|x-spam",
            _I,
        ),
    ),
    (
        "policyviolation",
        re.compile(
            r"policy violation|violat(?:es|ion of|ed)[^.\n]{0,40}polic|acceptable use"
            r"|prohibited (?:attachment|content|file)|not allowed by policy|email policy"
            r"|\bcontent policy",
            _I,
        ),
    ),
    (
        "notcompliantrfc",
        re.compile(
            r"rfc ?(?:5322|2822|822|1123|5321)(?!;)|not (?:rfc[ -]?)?compliant"
            r"|multiple addresses in (?:from|sender)|headers? too (?:large|long|big)"
            r"|too many headers"
            r"|(?:duplicate|multiple)[^.\n]{0,30}headers?|invalid (?:message )?header"
            r"|header[^.\n]{0,30}(?:malformed|invalid|missing)|bare lf|missing (?:date|from)",
            _I,
        ),
    ),
    (
        "mesgtoobig",
        re.compile(
            r"message (?:is )?too (?:big|large)|(?:message|mail)[^.\n]{0,20}size[^.\n]{0,30}"
            r"(?:exceed|too|limit|larger)|exceeds? (?:the )?(?:maximum )?(?:allowed )?"
            r"(?:message )?size|size limit|too large|message length exceeds"
            r"|maximum (?:message )?size|larger than the (?:maximum|allowed)",
            _I,
        ),
    ),
    (
        "exceedlimit",
        re.compile(r"exceeds? (?:administrative|the (?:local )?) ?limit|over the limit", _I),
    ),
    (
        "mailboxfull",
        re.compile(
            r"mail ?box (?:is |was )?(?:full|over|exceed)|over ?quota|quota (?:exceeded|full|"
            r"limit|reached)|exceeded (?:the )?(?:storage|quota)|(?:user|account|recipient)"
            r"[^.\n]{0,30}(?:is )?over (?:the )?(?:quota|storage)|insufficient (?:disk )?space"
            r"|(?:not enough|insufficient) (?:disk )?(?:storage|space)"
            r"|(?:mailbox|disk) (?:size )?limit|full mailbox"
            r"|mailbox exceeded|storage (?:allocation|limit|quota)|has exceeded"
            r"|out of storage|too (?:much|many) mail",
            _I,
        ),
    ),
    (
        "suspend",
        re.compile(
            r"(?:account|mailbox|user|address|recipient)[^.\n]{0,30}(?:is |has been |was )?"
            r"(?:temporar(?:y|ily) )?"
            r"(?:disabled|suspended|inactive|deactivated|locked|frozen|closed|expired|"
            r"blocked|on hold)|inactive (?:account|user|mailbox)|not (?:an )?active"
            r"|(?:disabled|suspended) (?:account|mailbox|user)|5\.7\.13\b",
            _I,
        ),
    ),
    (
        "hasmoved",
        re.compile(r"has moved|address (?:has )?changed|user not local|moved to", _I),
    ),
    (
        "norelaying",
        re.compile(
            r"relay(?:ing)? (?:access )?(?:denied|not (?:allowed|permitted))|unable to relay"
            r"|not permitted to relay|(?:we )?do(?:es)? not relay|relaying (?:is )?(?:not|denied"
            r"|prohibited)|not (?:an? )?(?:open )?relay|no relaying|relay not",
            _I,
        ),
    ),
    (
        "rejected",
        re.compile(
            r"sender (?:address |domain )?(?:rejected|denied|refused|blocked|not allowed|"
            r"verify failed|verification failed|is not allowed|invalid)|domain of sender address"
            r"|sender address[^.\n]{0,30}(?:rejected|denied|invalid|unknown)",
            _I,
        ),
    ),
    (
        "userunknown",
        re.compile(
            r"user ?(?:name )?(?:is )?unknown|unknown (?:user|recipient|mailbox|local[- ]?part"
            r"|address|account)|no such (?:user|mailbox|recipient|account|address|person|local)"
            r"|(?:user|mailbox|recipient|address|account|addressee)[^.\n]{0,40}"
            r"(?:does not|doesn'?t|did not|no longer) exist|not (?:a )?(?:valid|known) "
            r"(?:user|mailbox|recipient|address)|invalid (?:recipient|mailbox|user|address"
            r"|e-?mail address)|(?:user|recipient|mailbox|addressee|address) (?:was |is )?"
            r"not found|mailbox (?:is )?unavailable|mailbox not available|"
            r"recipient (?:address )?rejected|address rejected|unknown or illegal|"
            r"no mailbox|recipnotfound|couldn'?t be found|could not be found|not our customer"
            r"|addressee unknown|is not a (?:known|valid)|user(?:name)? not (?:found|known)|"
            r"account (?:does not|doesn'?t) exist|no account|invalid address|bad destination"
            r"|undeliverable address|unknown e-?mail|destination (?:mailbox|address) "
            r"(?:unavailable|invalid)|not listed in|no valid recipients|mailbox not found"
            r"|(?:does not|doesn'?t) have an? [^\n]{0,40}account|unrouteable address"
            r"|recipient address rejected: access denied|name is not recognized"
            r"|recipient (?:is )?not (?:recognized|known)"
            r"|invalid[^.\n]{0,30}(?:userid|user id|recipient|mailbox)",
            _I,
        ),
    ),
    (
        "notaccept",
        re.compile(
            # ... but "does not accept mail from <you>" refuses the sender.
            r"(?:does not|doesn'?t) accept (?:any )?(?:e-?)?mail(?! from)|null[ -]?mx|rfc ?7505"
            r"|not accepting (?:any )?(?:e-?)?mail(?! from)"
            r"|no mail service|(?:does not|doesn'?t) receive (?:e-?)?mail",
            _I,
        ),
    ),
    (
        "hostunknown",
        re.compile(
            r"host (?:or domain name )?(?:not found|unknown)|unknown (?:host|domain)"
            r"|host [a-z0-9.-]+ not found"
            r"|domain (?:name )?(?:not found|does not exist|doesn'?t exist|unknown|is not valid)"
            r"|no such (?:domain|host)|name or service not known|\bnxdomain\b|no mx"
            r"|mx (?:record )?(?:not found|lookup)|unroutable|host not found"
            r"|no (?:valid )?(?:dns|a|mx) record|could not (?:resolve|find) (?:the )?"
            r"(?:host|domain|mx)|dns error|domain[^.\n]{0,20}could not be found"
            r"|invalid domain|bad domain|domain (?:is )?(?:invalid|disabled|not hosted)"
            r"|domain (?:is )?not reachable|\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\.? does not exist",
            _I,
        ),
    ),
    (
        # Words of a block or a policy with no more precise cause beside them.
        "blocked",
        re.compile(r"\bblocked\b|\bblacklisted\b|\bbanned\b|\bdenylist", _I),
    ),
    ("policyviolation", re.compile(r"\bpolic(?:y|ies)\b", _I)),
    (
        # Volume limits per sender: rate, not the recipient.
        "speeding",
        re.compile(
            r"too many (?:recipients|messages|mails|emails) (?:this|per|in the last|in an?) "
            r"(?:hour|day|minute)|frequency limit|sending (?:limit|quota)",
            _I,
        ),
    ),
    (
        "toomanyconn",
        re.compile(
            r"too many (?:connections|concurrent|simultaneous|sessions|hosts)"
            r"|connection (?:limit|rate)|too many recipients|too many (?:open )?sessions",
            _I,
        ),
    ),
    (
        "speeding",
        re.compile(
            r"rate limit|rate[- ]limited|sending rate|throttl|too many (?:messages|emails|mails)"
            r"|receiving mail at a rate|at a rate that prevents"
            r"|exceeded [^.\n]{0,30}rate|too fast|slow down|temporarily (?:deferred|rate)",
            _I,
        ),
    ),
    (
        "expired",
        re.compile(
            r"retry time(?:out)? (?:exceeded|not reached)|delivery (?:time|period) "
            r"(?:expired|exceeded)|message expired|(?:has|have) been delayed|"
            r"could not be delivered (?:with)?in|gave up|giving up|queue ?time|"
            r"(?:has|was) been in the queue|expired|timeout exceeded|too long in|"
            r"delivery (?:is )?delayed|has not (?:yet )?been delivered|not been delivered for"
            r"|could not send message for past|delay(?:ed)? (?:mail|notice)|"
            r"failed \d+ attempts|after \d+ attempts|failing for a long time|"
            r"deferred|will (?:continue|keep) (?:to )?try|aborted after|"
            r"could not deliver for the last",
            _I,
        ),
    ),
    (
        "networkerror",
        re.compile(
            r"connection (?:timed out|refused|reset|closed|lost|dropped)|network (?:is )?"
            r"unreachable|no route to host|lost connection|timed? ?out|could not connect|"
            r"unable to connect|can'?t connect|failed to connect|mail (?:forwarding )?loop|"
            r"loops? back|hop count|too many hops|routing loop|dns (?:lookup|failure|problem)"
            r"|temporary lookup failure|no answer from|connect to [^\n]{0,60} failed"
            r"|(?:did|does|could) not accept (?:our )?(?:requests to )?connect|name service error"
            r"|host (?:is )?not reachable|unreachable"
            r"|malformed or unexpected name server reply",
            _I,
        ),
    ),
    (
        "securityerror",
        re.compile(
            r"authentication (?:required|failed)|must (?:issue|use) (?:a )?starttls"
            r"|tls (?:is )?required|encryption required|certificate|not authorized|"
            r"unauthori[sz]ed|\bauth\b|security",
            _I,
        ),
    ),
    (
        "failedstarttls",
        re.compile(
            r"starttls|tls (?:negotiation|handshake)|ssl"
            r"|(?:does not|doesn'?t|not) (?:support|offer|advertise) (?:the )?tls",
            _I,
        ),
    ),
    (
        "rejected",
        re.compile(
            r"sender (?:address |domain )?(?:rejected|denied|refused|blocked|not allowed|"
            r"verify failed|unknown|is not allowed)|(?:domain of )?sender address|"
            r"envelope (?:sender|from)|mail from|(?:from|sender) (?:address|domain)"
            r"[^.\n]{0,30}(?:invalid|rejected|denied|not|unknown)|sender (?:is )?"
            r"(?:invalid|blacklisted)|return path|sender verification|rejected by sender"
            # ... but not the "returned to sender" of a bounce's subject line
            r"|(?<!returned to )(?<!return to )\bsender\b"
            r"|google groups|groups\.google\.com|permission to post",
            _I,
        ),
    ),
    (
        "filtered",
        re.compile(
            r"filtered|filter(?:ing)? (?:rejected|refused|denied)|delivery not authori[sz]ed"
            r"|refused by (?:the )?recipient|recipient[^.\n]{0,30}(?:refused|denied|blocked"
            r"|does not wish|not accept)|not accept(?:ing)? (?:mail|messages) from"
            r"|access denied|not allowed to (?:send|post)|permission denied"
            r"|recipients? (?:was|were) rejected",
            _I,
        ),
    ),
    (
        "mailererror",
        re.compile(
            r"mailer error|x-unix|pipe to|command (?:died|failed)|exit (?:code|status)"
            r"|procmail|program failed|unknown mailer|local delivery failed",
            _I,
        ),
    ),
    (
        "systemfull",
        re.compile(r"(?:system|disk|server) (?:is )?full|insufficient system storage", _I),
    ),
    (
        "syntaxerror",
        re.compile(
            r"syntax error|command (?:unrecognized|not recognized|not implemented)|"
            r"bad sequence|unrecognized command|invalid command|line too long|"
            r"malformed (?:recipient )?address|incorrectly constructed|"
            r"parameters? not (?:implemented|recognized)|line limit exceeded",
            _I,
        ),
    ),
    (
        "contenterror",
        re.compile(
            r"content (?:rejected|error)|attachment|mime |executable|illegal character"
            r"|encoding",
            _I,
        ),
    ),
    (
        "systemerror",
        re.compile(
            r"system error|internal (?:server )?error|server error|temporary (?:failure|"
            r"error|problem)|local error|try again later|out of memory|configuration error"
            r"|resources? (?:temporarily )?unavailable|service (?:is )?(?:temporarily )?"
            r"unavailable|i/o error|system (?:is )?(?:not )?available",
            _I,
        ),
    ),
]

# Entries whose words are too general to overrule a specific status code
# (a 5.1.1 with "timed out" or "security" somewhere in its text stays 5.1.1):
# transport, protocol and local-system wording, and the broad "sender" and
# "filtered" entries at the end of the list.
_GENERAL = frozenset(
    {
        "expired",
        "networkerror",
        "securityerror",
        "failedstarttls",
        "mailererror",
        "syntaxerror",
        "contenterror",
        "systemerror",
    }
)
_LAST_ADDRESS = max(i for i, (r, _) in enumerate(TEXT_PATTERNS) if r == "userunknown")
WEAK = frozenset(
    i
    for i, (r, _) in enumerate(TEXT_PATTERNS)
    if r in _GENERAL or (i > _LAST_ADDRESS and r in ("rejected", "filtered"))
)

# Same matches, fewer positions tried (see ``gate``).
TEXT_PATTERNS[:] = [(reason, gated(rx)) for reason, rx in TEXT_PATTERNS]
