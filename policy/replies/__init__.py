"""Replies to scenario mail: the reply address's token, the classes and the rules. Pure."""
