"""AI-written first lines, the pure part: the prompt, the cache key, the checks, the budget.

The I/O (the Anthropic client, batches, the cache and token counts in the
store) is ``scheduler/personalization.py``; nothing here touches the network
or a database.
"""
