"""Errors a coach can act on: each message says what is wrong with which file and what to do."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class of every knowledge-base error with a message meant for people."""


class UnsupportedFileError(KnowledgeError):
    """The bytes are not one of the formats we read (PDF, DOCX, HTML, Markdown, plain text)."""


class FileTooLargeError(KnowledgeError):
    """The file (or, for DOCX, its decompressed content) is over the configured limit."""


class CorruptFileError(KnowledgeError):
    """The file claims a format we read but cannot be parsed as one."""


class EmptyDocumentError(KnowledgeError):
    """The file parsed but holds no text to answer from (e.g. a scanned PDF without OCR)."""


class IndexLockedError(KnowledgeError):
    """Another process owns the persistent vector index directory."""


class DocumentNotFoundError(KnowledgeError):
    """No document of this creator matches the given id or name."""
