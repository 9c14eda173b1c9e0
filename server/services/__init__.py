"""Service functions: all SQL lives here. Each takes a Session (or the Database, when it owns
its transaction) and returns ORM rows or plain dataclasses; routes never build queries."""
