"""Full-text search over stored transcripts: the query syntax (`query`), the hits (`hits`), the SQLite index."""
