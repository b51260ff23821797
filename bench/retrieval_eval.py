"""Retrieval quality on the labelled Korean question set against the sample KB.

Loads examples/kb into a fresh database with the configured embedder (the local one by
default), then for every question in bench/data/retrieval_eval.jsonl ranks documents three ways
(vector only, keyword only, hybrid RRF) and reports hit@1, hit@3 and MRR (document level), overall
and per question style.

    .venv/bin/python bench/retrieval_eval.py

Target (issue 4): hybrid hit@3 >= 0.85 with the local embedder.
"""

import asyncio
import json
import os
import platform
import time
from collections import defaultdict
from uuid import UUID

from _support import REPO_ROOT, bench_settings, fresh_database

from functions._shared.db.pool import create_pool
from functions._shared.kb.korean import keyword_terms
from functions._shared.kb.runtime import build_knowledge_base
from functions._shared.kb.search import keyword_hits
from gateway.kb_cli import ingest

RANK_DEPTH = 50


def document_ranking(chunk_ids: list[UUID], chunk_document: dict[UUID, str]) -> list[str]:
    ranking: list[str] = []
    for chunk_id in chunk_ids:
        document = chunk_document.get(chunk_id)
        if document is not None and document not in ranking:
            ranking.append(document)
    return ranking


def score(rankings: list[tuple[str, list[str]]]) -> dict[str, float]:
    hit1 = sum(ranking[:1] == [expected] for expected, ranking in rankings)
    hit3 = sum(expected in ranking[:3] for expected, ranking in rankings)
    mrr = sum(
        1 / (ranking.index(expected) + 1) if expected in ranking else 0.0
        for expected, ranking in rankings
    )
    count = len(rankings)
    return {
        "hit@1": round(hit1 / count, 3),
        "hit@3": round(hit3 / count, 3),
        "mrr": round(mrr / count, 3),
        "n": count,
    }


async def run() -> dict[str, object]:
    questions = [
        json.loads(line)
        for line in (REPO_ROOT / "bench/data/retrieval_eval.jsonl").read_text().splitlines()
        if line.strip()
    ]
    async with fresh_database("ccos_bench_eval") as database_url:
        settings = bench_settings(database_url)
        await ingest(settings, [REPO_ROOT / "examples/kb"])
        pool = await create_pool(settings, database_url)
        kb = build_knowledge_base(settings)
        try:
            rows = await pool.fetch(
                "select c.id, d.source_filename from kb_chunks c "
                "join kb_documents d on d.id = c.document_id"
            )
            chunk_document = {row["id"]: row["source_filename"] for row in rows}
            results: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
            by_style: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
            async with pool.acquire() as connection:
                for question in questions:
                    text, expected = question["question"], question["document"]
                    vector = await kb.embedder.embed_query(text)
                    nearest = await kb.vectors.nearest(connection, vector=vector, limit=RANK_DEPTH)
                    keywords = await keyword_hits(
                        connection, terms=keyword_terms(text), limit=RANK_DEPTH
                    )
                    hybrid = await kb.search(connection, query=text, k=RANK_DEPTH)
                    rankings = {
                        "vector": [hit.chunk_id for hit in nearest],
                        "keyword": [chunk_id for chunk_id, _ in keywords],
                        "hybrid": [hit.chunk_id for hit in hybrid],
                    }
                    for method, chunk_ids in rankings.items():
                        ranking = document_ranking(chunk_ids, chunk_document)
                        results[method].append((expected, ranking))
                        if method == "hybrid":
                            by_style[question["style"]].append((expected, ranking))
        finally:
            await pool.close()
    return {
        "embedder": kb.embedder.name,
        "questions": len(questions),
        "documents": len(set(chunk_document.values())),
        "methods": {method: score(rankings) for method, rankings in results.items()},
        "hybrid_by_style": {style: score(rankings) for style, rankings in sorted(by_style.items())},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    result = asyncio.run(run())
    print(json.dumps(result, indent=2, ensure_ascii=False))
    path = REPO_ROOT / "bench/results/retrieval_eval.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
