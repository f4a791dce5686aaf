"""Layer 7, the command line: `practice-finder` and its plain-text reports."""
