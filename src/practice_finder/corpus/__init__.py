"""Layer 2, the corpus: record files and their schema, the portal's write log, and the catalog that lays the log over the folder."""
