"""AsyncEventStore: the store's calls as coroutines, run in threads the store owns."""
