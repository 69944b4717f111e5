"""The literature store: ingestion, chunking, embeddings, hybrid search with citations."""
