"""Looking after a knowledge base: chunk edits, folder sync, export/import archives, the
digest, maintenance (reindex, rebuild, repair) and migration between stores."""
