"""Other tools' index files: faiss (faiss_index.py)."""
