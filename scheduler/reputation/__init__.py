"""The reputation watch: DNS blocklist polling of the pools' IPs and tenants' domains."""
