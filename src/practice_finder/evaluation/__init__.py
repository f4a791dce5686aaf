"""Layer 6, measured relevance: nDCG@10, Recall@100 and MRR@10 on the domain set and on BEIR datasets."""
