"""Layer 3, language work: spaCy pipelines, stems, taxonomy tagging and snippets, for the region's ten languages."""
