"""Retrieval quality: our pipeline against the naive LangChain one, on the same corpus, same run.

    python -m benchmarks.knowledge_quality [--k 10] [--json FILE]

Corpus: `benchmarks/corpus/docs/` (46 coaching documents in Markdown, HTML, DOCX and PDF, built
by `benchmarks/knowledge_corpus.py` from the texts in `corpus/source/`), 252 questions a coachee
might ask, each with the document and a distinctive phrase of the passage that answers it, and
34 questions the material does not cover (`corpus/out_of_scope.txt`).

- **Ours**: `KnowledgeService.ingest` of every file (sniff, extract, clean, structure-aware
  chunks, MiniLM, Chroma, BM25), then `KnowledgeService.search`; out-of-scope questions go
  through `KnowledgeAnswerer.respond` in grounded mode and must come back `grounded: false`.
- **Naive**: what a LangChain tutorial builds: the text of each file as a loader gives it (pypdf
  page text, python-docx paragraphs and table cells, the HTML page's whole text, Markdown as
  written), `RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`, the same MiniLM
  encoder, a Chroma collection, top-k by vector similarity.

Answer-hit@k: one of the first k passages is from the right document and contains the phrase
(compared as lower-case words, so markup and line breaks do not matter). MRR is over the first k
passages. Doc-recall@5: the right document is among the first five passages. Every third
question is held out (see knowledge_corpus.py): the held-out figures are the ones to trust.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.answering import KnowledgeAnswerer
    from engine.models import Creator
    from knowledge.embeddings import SentenceEmbedder
    from knowledge.service import KnowledgeService

CORPUS = Path(__file__).parent / "corpus"
DOCS = CORPUS / "docs"
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Question:
    id: int
    question: str
    doc: str
    phrase: str
    split: str


@dataclass(frozen=True)
class Scores:
    pipeline: str
    split: str
    questions: int
    hit1: float
    hit3: float
    hit5: float
    mrr: float
    doc_recall5: float


def load_questions(path: Path = CORPUS / "questions.jsonl") -> list[Question]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Question(**json.loads(line)) for line in lines if line.strip()]


def load_out_of_scope(path: Path = CORPUS / "out_of_scope.txt") -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_documents(names: Sequence[str] | None = None) -> list[tuple[str, bytes]]:
    files = sorted(DOCS.iterdir()) if names is None else [DOCS / n for n in sorted(names)]
    return [(f.name, f.read_bytes()) for f in files]


def normalize(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower().replace("’", "'")))


def answer_rank(question: Question, passages: Sequence[tuple[str, str]]) -> int | None:
    """1-based rank of the first passage that answers the question, if any."""
    phrase = normalize(question.phrase)
    for rank, (doc, text) in enumerate(passages, start=1):
        if doc == question.doc and phrase in normalize(text):
            return rank
    return None


def score(
    pipeline: str,
    split: str,
    questions: Sequence[Question],
    passages: dict[int, list[tuple[str, str]]],
) -> Scores:
    ranks = [answer_rank(q, passages[q.id]) for q in questions]
    n = max(len(questions), 1)

    def hit(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    docs = sum(1 for q in questions if q.doc in [d for d, _ in passages[q.id][:5]]) / n
    mrr = sum(1 / r for r in ranks if r is not None) / n
    return Scores(pipeline, split, len(questions), hit(1), hit(3), hit(5), mrr, docs)


# -- the naive LangChain pipeline ------------------------------------------------------------


def naive_text(name: str, data: bytes) -> str:
    """The text a LangChain document loader would hand to the splitter."""
    if name.endswith(".pdf"):
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    if name.endswith(".docx"):
        import docx

        document = docx.Document(io.BytesIO(data))
        parts = [p.text for p in document.paragraphs]
        for table in document.tables:
            parts += ["\t".join(cell.text for cell in row.cells) for row in table.rows]
        return "\n".join(parts)
    if name.endswith((".html", ".htm")):
        import lxml.html

        return str(lxml.html.document_fromstring(data).text_content())
    return data.decode("utf-8")


class NaivePipeline:
    """RecursiveCharacterTextSplitter(1000, 200) → MiniLM → Chroma, top-k by similarity."""

    def __init__(self, embedder: SentenceEmbedder) -> None:
        import chromadb
        from chromadb.config import Settings

        self.embedder = embedder
        client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
        self.collection: Any = client.create_collection(
            f"naive_{uuid.uuid4().hex[:8]}", embedding_function=None
        )
        self.chunks = 0

    def ingest(self, documents: Sequence[tuple[str, bytes]]) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        texts: list[str] = []
        docs: list[str] = []
        for name, data in documents:
            for chunk in splitter.split_text(naive_text(name, data)):
                texts.append(chunk)
                docs.append(name)
        vectors = self.embedder.embed(texts)
        ids = [str(i) for i in range(len(texts))]
        self.collection.add(
            ids=ids, embeddings=vectors, documents=texts, metadatas=[{"doc": d} for d in docs]
        )
        self.chunks = len(texts)

    def search(self, question: str, k: int) -> list[tuple[str, str]]:
        vector = self.embedder.embed_query(question)
        found = self.collection.query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas"]
        )
        metadatas = found["metadatas"][0] if found["metadatas"] else []
        documents = found["documents"][0] if found["documents"] else []
        return [(str(m["doc"]), str(t)) for m, t in zip(metadatas, documents, strict=True)]


# -- ours ------------------------------------------------------------------------------------


async def ours_passages(
    service: KnowledgeService, creator_id: int, questions: Sequence[Question], k: int
) -> dict[int, list[tuple[str, str]]]:
    out = {}
    for q in questions:
        result = await service.search(creator_id, q.question, k)
        out[q.id] = [(h.doc, h.text) for h in result.hits]
    return out


async def declined(
    answerer: KnowledgeAnswerer, creator: Creator, questions: Sequence[str]
) -> list[bool]:
    """For each question, whether the answerer declined (grounded: false)."""
    return [not (await answerer.respond(creator, q)).grounded for q in questions]


@dataclass(frozen=True)
class Report:
    scores: list[Scores]
    ours_chunks: int
    naive_chunks: int
    out_of_scope: int
    out_of_scope_declined: float
    in_scope_declined: float
    declined_examples: list[str]
    accepted_out_of_scope: list[str]


async def evaluate(
    service: KnowledgeService,
    creator: Creator,
    documents: Sequence[tuple[str, bytes]],
    questions: Sequence[Question],
    out_of_scope: Sequence[str],
    *,
    k: int = 10,
) -> Report:
    """Ingest `documents` into `service` (for `creator`) and into the naive pipeline, and score
    both on `questions`; the caller owns the service."""
    from engine.answering import KnowledgeAnswerer

    results = await service.ingest_many(creator.id, documents)
    failed = [r for r in results if r.status == "failed"]
    assert not failed, failed
    encoder: Any = getattr(service.embedder, "inner", service.embedder)
    naive = NaivePipeline(encoder)
    naive.ingest(documents)

    ours = await ours_passages(service, creator.id, questions, k)
    theirs = {q.id: naive.search(q.question, k) for q in questions}
    scores = []
    for split in ("all", "dev", "holdout"):
        subset = [q for q in questions if split in ("all", q.split)]
        if subset:
            scores.append(score("ours", split, subset, ours))
            scores.append(score("naive", split, subset, theirs))

    answerer = KnowledgeAnswerer(service)
    outside = await declined(answerer, creator, out_of_scope)
    inside = await declined(answerer, creator, [q.question for q in questions])
    chunks = sum(r.chunks for r in results)
    return Report(
        scores=scores,
        ours_chunks=chunks,
        naive_chunks=naive.chunks,
        out_of_scope=len(out_of_scope),
        out_of_scope_declined=statistics.fmean(outside) if outside else 0.0,
        in_scope_declined=statistics.fmean(inside) if inside else 0.0,
        declined_examples=[q.question for q, d in zip(questions, inside, strict=True) if d],
        accepted_out_of_scope=[q for q, d in zip(out_of_scope, outside, strict=True) if not d],
    )


def print_report(report: Report) -> None:
    print(f"chunks: ours {report.ours_chunks}, naive {report.naive_chunks}")
    print(f"{'pipeline':<8}{'split':<9}{'n':>4}  hit@1  hit@3  hit@5    MRR  doc@5")
    for s in report.scores:
        print(
            f"{s.pipeline:<8}{s.split:<9}{s.questions:>4}  {s.hit1:.3f}  {s.hit3:.3f}  "
            f"{s.hit5:.3f}  {s.mrr:.3f}  {s.doc_recall5:.3f}"
        )
    print(
        f"out-of-scope declined (grounded: false): {report.out_of_scope_declined:.3f} "
        f"of {report.out_of_scope}; in-scope questions declined: {report.in_scope_declined:.3f}"
    )
    for q in report.accepted_out_of_scope:
        print(f"  answered although out of scope: {q}")
    for q in report.declined_examples:
        print(f"  declined although covered: {q}")


async def run(k: int, misses: bool) -> Report:
    from sqlalchemy import select

    from benchmarks.knowledge_common import fresh_service
    from engine.models import Creator
    from knowledge.embeddings import SentenceEmbedder

    embedder = SentenceEmbedder()
    service, creator_id, _ = await fresh_service(embedder)
    async with service.db.sessions() as session:
        creator = (await session.scalars(select(Creator).where(Creator.id == creator_id))).one()
    questions = load_questions()
    report = await evaluate(service, creator, load_documents(), questions, load_out_of_scope(), k=k)
    print_report(report)
    if misses:
        ours = await ours_passages(service, creator_id, questions, 5)
        for q in questions:
            if answer_rank(q, ours[q.id]) is None:
                top = ", ".join(f"{d}" for d, _ in ours[q.id][:3])
                print(f"  miss [{q.split}] {q.question} ({q.doc}) → {top}")
    service.close()
    await service.db.dispose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=10, help="passages retrieved per question")
    parser.add_argument("--json", dest="json_path", help="also write the report as JSON")
    parser.add_argument("--misses", action="store_true", help="list our misses at 5")
    args: Any = parser.parse_args()
    report = asyncio.run(run(args.k, args.misses))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
