"""Callbacks: the SSRF guard, signed webhooks, chained function calls, and the delivery outbox."""
