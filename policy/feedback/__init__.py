"""What comes back about relayed mail, and what Sluice does and says about it.

Reports in: bounces and complaints (``policy.bounces``), PowerMTA accounting
records (``accounting``), each matched to its message by its VERP return
path (``verp``). Decisions: ``decision`` (suppress, count, notify), rates by
IP and provider (``health``, ``stats``). Out: MailWizz records and webhooks
(``notify``, ``mailwizz``). All pure; ``scheduler`` does the I/O.
"""
