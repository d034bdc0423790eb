"""Mitotic-figure detection over a slide: candidates from the tile engine, merged across tile overlaps (NMS)."""
