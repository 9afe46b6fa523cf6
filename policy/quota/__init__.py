"""How much each IP may carry, and which IP carries a message now.

Warmup schedules and day advancement (``warmup``), the IP state machine and
each IP's recorded state (``ipstate``), health holds and throttles
(``measures``), whose day it is (``calendar``), the choice of an IP and its
limits (``selection``), batch capacity (``capacity``), and the operator's view
and actions (``operations``). Every Redis key shape is in ``policy.keys``.
"""
