-- A denser HNSW graph for kb_chunks: with m = 16 / ef_construction = 64, recall@10 of the
-- local embedder's vectors at 100k chunks was 0.84 (ef_search 100); with m = 32 /
-- ef_construction = 128 it is 0.93 at the same ef_search (bench/retrieval_speed.py). Building
-- costs about a third more time; the table is empty when this runs on a new database.
drop index if exists public.kb_chunks_embedding;
create index kb_chunks_embedding on public.kb_chunks
    using hnsw (embedding vector_cosine_ops) with (m = 32, ef_construction = 128);
