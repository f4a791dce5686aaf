"""Layer 4, building an index: analysis of records, embedding, the SQLite store, FAISS vectors, versioned builds with a typed manifest, and ingest."""
