"""practice-finder: semantic search and recommendations over good practices of the BSR Cultural Pearls programme."""

__version__ = "0.1.0"
