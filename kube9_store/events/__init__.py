"""The event: its models and rules, its stored forms, timestamps and ids."""
