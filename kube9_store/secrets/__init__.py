"""The secret scrubber: which names hold a secret, credentials in text, the walk."""
