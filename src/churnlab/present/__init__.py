"""Presentation: figures, findings in words, HTML, CSM packs and output files."""
