"""The knowledge base shared by the functions: Korean text, chunking, embedders, search."""
