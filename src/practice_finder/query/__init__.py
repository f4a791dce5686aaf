"""Layer 5, a loaded build answering questions: search and its legs, records, recommendations, peers, and the views pages and routes show."""
