"""The knowledge base's source of truth in SQL: one knowledge base per creator, its documents
(with the uploaded bytes, so any worker can index them and the vector index can be rebuilt), and
their chunks. Chroma only indexes these rows; a vector id is the chunk's id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from engine.db import Base, BigId, UTCDateTime
from engine.models import utcnow

QUEUED, INDEXING, READY, FAILED = "queued", "indexing", "ready", "failed"


class KnowledgeBase(Base):
    __tablename__ = "knowledge_bases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), unique=True
    )
    embedding_model: Mapped[str] = mapped_column(String(300))
    # Bumped by every change to the chunks: per-process caches (the lexical index) key on it.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Document(Base):
    __tablename__ = "kb_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE")
    )
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    source_name: Mapped[str] = mapped_column(String(500))  # the file name as uploaded
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))  # pdf | docx | html | markdown | text
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of `content`
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    indexed_hash: Mapped[str | None] = mapped_column(String(64))  # content the chunks come from
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    embedded_count: Mapped[int] = mapped_column(Integer, default=0)  # in the last indexing run
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("knowledge_base_id", "source_name"),
        Index(None, "creator_id", "status"),
    )


class Chunk(Base):
    __tablename__ = "kb_chunks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("kb_documents.id", ondelete="CASCADE"), index=True
    )
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading: Mapped[str] = mapped_column(Text, default="")  # heading path, " > "-joined
    page: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))  # of the embedded text

    # Chunk ids are vector ids: SQLite must not hand a deleted chunk's id to a new one.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (SQLAlchemy's declaration)
