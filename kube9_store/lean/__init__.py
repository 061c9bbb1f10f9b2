"""The console script's lean read path: stdlib sqlite3 and these light modules only."""
