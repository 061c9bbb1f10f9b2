"""Moving history: copy between databases, export, and imports."""
